"""AWS's Session Manager plugin: finding it, and running it as the AWS CLI does.

The plugin (``session-manager-plugin``) speaks Session Manager's data channel; the AWS
CLI's ``ssm start-session`` calls StartSession and runs it with the answer. The command
does the same without the AWS CLI, so a user needs the plugin alone. It is found on PATH,
or named by ``BASTION_SESSION_MANAGER_PLUGIN``: an absolute path to an executable file,
else refused. The arguments are the AWS CLI's, in its order: the answer (SessionId,
TokenValue, StreamUrl) as JSON, the region, ``StartSession``, the profile, the request's
parameters as JSON and the SSM endpoint. A plugin newer than 1.2.497.0 takes, instead of
the answer, the name of the environment variable holding it (as the AWS CLI passes it),
so the session's token is not on a command line other users can list.
"""

from __future__ import annotations

import collections
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bastion.cli.errors import CliError, ExitCode

PLUGIN = "session-manager-plugin"
OVERRIDE = "BASTION_SESSION_MANAGER_PLUGIN"
INSTALL_PAGE = (
    "https://docs.aws.amazon.com/systems-manager/latest/userguide/"
    "session-manager-working-with-install-plugin.html"
)
#: The newest plugin that takes the answer itself rather than a variable's name.
LAST_VERSION_WITHOUT_VARIABLE = (1, 2, 497, 0)
RESPONSE_VARIABLE = "AWS_SSM_START_SESSION_RESPONSE"
VERSION_SHAPE = re.compile(r"[0-9]+(\.[0-9]+){0,3}")
VERSION_TIMEOUT_SECONDS = 30
#: How many of a failing plugin's last stderr lines its error names.
STDERR_LINES = 5
MAX_LINE_CHARS = 500


def missing_message(then: str | None = None) -> str:
    """What the user is told when the plugin is not installed."""
    message = (
        f"the Session Manager plugin ({PLUGIN}) is not installed: private sessions are "
        f"reached through it. Install it ({INSTALL_PAGE}), or name it with {OVERRIDE}"
    )
    return f"{message}; then run: {then}" if then else message


def find_plugin(environ: Mapping[str, str] | None = None, *, then: str | None = None) -> Path:
    """The plugin to run (CliError CONFIGURATION naming what is wrong, and ``then``, the
    command to run once it is installed, when it is missing)."""
    environ = os.environ if environ is None else environ
    named = environ.get(OVERRIDE, "")
    if named:
        path = Path(named)
        problem = None
        if not path.is_absolute():
            problem = "is not an absolute path"
        elif not path.is_file():
            problem = "is not a file"
        elif not os.access(path, os.X_OK):
            problem = "is not executable"
        if problem:
            raise CliError(
                f"{OVERRIDE}: {named!r} {problem}: name the {PLUGIN} executable",
                ExitCode.CONFIGURATION,
            )
        return path
    found = shutil.which(PLUGIN, path=environ.get("PATH", os.defpath))
    if found is None:
        raise CliError(missing_message(then), ExitCode.CONFIGURATION)
    return Path(found)


def _takes_variable(plugin: Path) -> bool:
    """Whether the plugin takes the answer's variable name (it says so by its version)."""
    try:
        answer = subprocess.run(  # noqa: S603 - the plugin find_plugin checked
            [str(plugin), "--version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=VERSION_TIMEOUT_SECONDS,
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    version = re.sub(r"\s+", "", answer)
    if not VERSION_SHAPE.fullmatch(version):
        return False
    parts = [int(part) for part in version.split(".")]
    parts += [0] * (4 - len(parts))
    return tuple(parts) > LAST_VERSION_WITHOUT_VARIABLE


@contextmanager
def _keyboard_signals_to_the_plugin() -> Iterator[None]:
    """Ctrl-C, Ctrl-\\ and Ctrl-Z are the plugin's to handle (it relays them), not ours."""
    handled = (signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP)
    before = {number: signal.signal(number, signal.SIG_IGN) for number in handled}
    try:
        yield
    finally:
        for number, handler in before.items():
            signal.signal(number, handler)


def run_plugin(
    plugin: Path,
    response: Mapping[str, Any],
    region: str,
    profile: str | None,
    request: Mapping[str, Any],
    endpoint_url: str,
) -> None:
    """Run the plugin on a StartSession answer, with this process's stdin and stdout (so
    it serves as ssh's ProxyCommand) and its stderr relayed line by line. CliError naming
    its exit status and last stderr lines when it fails."""
    answer = json.dumps({key: response[key] for key in ("SessionId", "TokenValue", "StreamUrl")})
    environment = dict(os.environ)
    first = answer
    if _takes_variable(plugin):
        environment[RESPONSE_VARIABLE] = answer
        first = RESPONSE_VARIABLE
    argv = [str(plugin), first, region, "StartSession", profile or "", json.dumps(request)]
    argv.append(endpoint_url)
    last: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
    with _keyboard_signals_to_the_plugin():
        try:
            process = subprocess.Popen(  # noqa: S603 - the plugin find_plugin checked
                argv, stderr=subprocess.PIPE, env=environment
            )
        except OSError as error:
            raise CliError(f"{plugin} could not be run: {error.strerror}") from None
        for raw in process.stderr or ():
            line = raw.decode(errors="replace")
            sys.stderr.write(line)
            sys.stderr.flush()
            line = line.rstrip()
            if line:
                last.append(line[:MAX_LINE_CHARS])
        status = process.wait()
    if status != 0:
        said = " | ".join(last) or "nothing on stderr"
        raise CliError(f"{plugin} exited with status {status}: {said}")

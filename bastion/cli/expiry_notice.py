"""Telling a bastion the session's new expiry, after an extension.

The bastion learns nothing from AWS (it holds no credentials for it), so its entry point
warns logged-in terminals five minutes before the session's expiry as it was when the
task started. After ``bastion extend`` the CLI tells the bastion the new expiry over the
session's own ssh (its key, the pinned host keys, and for a private session the Session
Manager proxy), by writing it where the entry point reads it (``BASTION_EXPIRY_FILE``,
container/README.md): the warning moves there, and nothing else does. A tunnel-only
bastion runs no commands, and has no terminal to warn either; a machine that holds no
key of the session cannot tell it.
"""

from __future__ import annotations

import re
import subprocess
from typing import Any

from bastion.cli import sessions
from bastion.cli.errors import CliError
from bastion.cli.target import Target

#: The only shape of expiry that is ever written into the remote command.
EXPIRY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
#: How long one attempt may take, connection (and a Session Manager session) included.
TELL_TIMEOUT_SECONDS = 60


def remote_command(expires_at: str) -> str:
    """The command that writes ``expires_at`` (checked: a plain UTC time) where the entry
    point reads it: written beside it, then renamed into place, so that the entry point,
    which reads the file whenever it is there, never reads it half-written."""
    return (
        f'printf %s {expires_at} > "$BASTION_EXPIRY_FILE.new" && '
        'mv -f -- "$BASTION_EXPIRY_FILE.new" "$BASTION_EXPIRY_FILE"'
    )


def tell_bastion(target: Target, doc: dict[str, Any], expires_at: str) -> str | None:
    """Tell the session's bastion its new expiry: None when told, else why not."""
    if not EXPIRY.fullmatch(expires_at):
        return f"{sessions.printable(expires_at)!r} is not a UTC time"
    if not doc.get("keyFile"):
        return "this machine holds no key of the session"
    try:
        argv = sessions.ssh_argv(target, doc, [remote_command(expires_at)])
    except CliError as error:
        return str(error)
    argv[1:1] = ["-o", "BatchMode=yes", "-o", "ConnectTimeout=20", "-o", "LogLevel=ERROR"]
    try:
        result = subprocess.run(  # noqa: S603 - OpenSSH, argv built by ssh_argv
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TELL_TIMEOUT_SECONDS,
            check=False,
        )
    except FileNotFoundError:
        return "ssh (OpenSSH's client) is not installed"
    except subprocess.TimeoutExpired:
        return f"ssh did not finish within {TELL_TIMEOUT_SECONDS} s"
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines()
        said = sessions.printable(lines[-1]) if lines else f"exit status {result.returncode}"
        return f"ssh failed: {said}; a tunnel-only bastion runs no commands"
    return None

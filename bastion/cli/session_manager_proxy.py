"""ssh's ProxyCommand for a private session: ``python -m bastion.cli.session_manager_proxy``.

It checks its arguments as the command checked the ready document, finds the Session
Manager plugin (before anything starts: a missing plugin leaves no session open), calls
SSM StartSession with the user's credentials on the session's task with the stack's
document, and runs the plugin on the answer with its stdin and stdout, which are ssh's
connection to the bastion's sshd. A session the plugin fails to carry is terminated at
once. Its errors are one ``bastion:`` line on stderr, which ssh shows; it exits non-zero
then. ``--local-dir`` makes the StartSession call to the embedded local AWS of that state
directory.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from bastion.cli.errors import CliError, ExitCode
from bastion.cli.session_manager import SessionManager, SessionManagerError, check
from bastion.cli.session_manager_plugin import find_plugin, run_plugin
from bastion.cli.sessions import printable


def _ssm_client(manager: SessionManager, profile: str | None, local_dir: Path | None) -> Any:
    if local_dir is None:
        return boto3.Session(profile_name=profile).client("ssm", region_name=manager.region)
    from bastion import local_daemon

    endpoint = local_daemon.running(local_dir)
    if endpoint is None:
        raise CliError(f"the local AWS is not running ({local_dir})", ExitCode.CONFIGURATION)
    session = boto3.Session(region_name=manager.region, **endpoint.credentials.for_boto3())
    return session.client("ssm", endpoint_url=endpoint.endpoint_url)


def connect(manager: SessionManager, profile: str | None, local_dir: Path | None) -> None:
    """Open the Session Manager session and relay it through the plugin until it ends."""
    plugin = find_plugin(then="your ssh command again")
    request = manager.start_session_request()
    try:
        client = _ssm_client(manager, profile, local_dir)
        response = client.start_session(**request)
    except ClientError as error:
        problem = error.response["Error"]
        raise CliError(
            f"Session Manager refused to start a session on {manager.target}: "
            f"{problem.get('Code')}: {problem.get('Message')}"
        ) from None
    except BotoCoreError as error:
        raise CliError(f"cannot start a Session Manager session: {error}") from None
    endpoint_url = str(client.meta.endpoint_url)
    try:
        run_plugin(plugin, response, manager.region, profile, request, endpoint_url)
    except CliError as failed:
        raise CliError(
            f"{failed.message}; {_terminate(client, str(response['SessionId']))}", failed.code
        ) from None


def _terminate(client: Any, session_id: str) -> str:
    """End a Session Manager session the plugin does not carry (else it stays open until
    its idle timeout), as the AWS CLI does when it cannot run the plugin; what happened."""
    reason: str | None = None
    try:
        client.terminate_session(SessionId=session_id)
    except ClientError as error:
        problem = error.response["Error"]
        reason = f"{problem.get('Code')}: {problem.get('Message')}"
    except BotoCoreError as error:
        reason = str(error)
    shown = printable(session_id)
    if reason is None:
        return f"Session Manager session {shown} terminated"
    return (
        f"Session Manager session {shown} could not be terminated ({printable(reason)}); "
        f"end it with: aws ssm terminate-session --session-id {shlex.quote(shown)}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=f"{Path(sys.executable).name} -m bastion.cli.session_manager_proxy",
        description="ssh's ProxyCommand for a private bastion session (bastion ssh uses it)",
    )
    parser.add_argument("--target", required=True)
    parser.add_argument("--document-name", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--profile")
    parser.add_argument("--local-dir", type=Path)
    args = parser.parse_args(argv)
    try:
        try:
            manager = check(args.target, args.document_name, args.region)
        except SessionManagerError as error:
            raise CliError(f"refused: {error}", ExitCode.REFUSED) from None
        connect(manager, args.profile, args.local_dir)
    except CliError as error:
        print(f"bastion: {error.message}", file=sys.stderr)
        return int(error.code)
    return 0


if __name__ == "__main__":
    sys.exit(main())

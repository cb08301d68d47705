"""Where a command talks to: the stack's session API, signed with whose credentials.

Credentials and region: a boto3 Session, so ``--profile``/``AWS_PROFILE``,
``--region``/``AWS_REGION``/``AWS_DEFAULT_REGION``, the environment's keys, SSO and
instance roles all work as in the AWS CLI. The API, in order of precedence:

1. ``--api-url`` on the command line, or ``BASTION_API_URL``;
2. ``--stack NAME`` or ``BASTION_STACK`` (default ``fargate-bastion``): that
   CloudFormation stack's ``ApiUrl`` output (which needs ``cloudformation:DescribeStacks``);
3. ``--local``: the embedded local AWS's (started in the background when needed), which
   answers the same API with the local user as the caller.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from bastion.cli.errors import CliError, ExitCode

DEFAULT_STACK = "fargate-bastion"


def state_root() -> Path:
    """Where the command keeps session keys: ``$BASTION_STATE_DIR`` or XDG state."""
    explicit = os.environ.get("BASTION_STATE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "fargate-bastion"


@dataclass
class Target:
    """The session API of one deployed stack (or of the local AWS), and who signs for it."""

    session: boto3.Session
    api_url: str
    local_dir: Path | None = None
    #: The cluster a command means when none is named and none can be found (--local).
    default_cluster: str | None = None
    #: The profile named on the command line (--profile), which the session proxy uses too.
    profile: str | None = None

    @property
    def is_local(self) -> bool:
        return self.local_dir is not None

    @property
    def region(self) -> str:
        return str(self.session.region_name)

    @property
    def sessions_dir(self) -> Path:
        """Where each session's key, known_hosts and kubeconfig are kept."""
        if self.local_dir is not None:
            return self.local_dir / "sessions"
        return state_root() / "sessions"


def _stack_api_url(session: boto3.Session, stack: str) -> str:
    try:
        stacks = session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
    except NoCredentialsError:
        raise CliError(
            "no AWS credentials: configure a profile (aws configure / aws sso login) "
            "or pass --profile",
            ExitCode.CONFIGURATION,
        ) from None
    except ClientError as error:
        raise CliError(
            f"cannot read stack {stack!r} ({error.response['Error'].get('Message', error)}): "
            "pass --api-url (or set BASTION_API_URL) to the stack's ApiUrl",
            ExitCode.CONFIGURATION,
        ) from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    if not outputs.get("ApiUrl"):
        raise CliError(f"stack {stack!r} has no ApiUrl output", ExitCode.CONFIGURATION)
    return str(outputs["ApiUrl"])


def resolve(args: Any) -> Target:
    """The target of a parsed command line (see the module doc for the precedence)."""
    if getattr(args, "local", False):
        return _local_target(args)
    try:
        session = boto3.Session(profile_name=args.profile, region_name=args.region)
        if not session.region_name and os.environ.get("AWS_REGION"):
            # AWS CLI v2 and the SDKs read AWS_REGION; botocore reads AWS_DEFAULT_REGION.
            session = boto3.Session(profile_name=args.profile, region_name=os.environ["AWS_REGION"])
    except BotoCoreError as error:
        raise CliError(str(error), ExitCode.CONFIGURATION) from None
    if not session.region_name:
        raise CliError(
            "no AWS region: pass --region, set AWS_REGION, or set one in your profile",
            ExitCode.CONFIGURATION,
        )
    api_url = args.api_url or os.environ.get("BASTION_API_URL")
    if not api_url:
        api_url = _stack_api_url(
            session, args.stack or os.environ.get("BASTION_STACK") or DEFAULT_STACK
        )
    return Target(session=session, api_url=api_url, profile=args.profile)


def _local_target(args: Any) -> Target:
    from bastion import local_daemon

    state_dir = Path(args.local_dir) if args.local_dir else local_daemon.default_state_dir()
    try:
        endpoint = local_daemon.start(state_dir)
    except local_daemon.LocalAwsError as error:
        raise CliError(str(error), ExitCode.CONFIGURATION) from None
    if endpoint.lost_sessions:
        print(f"bastion: {lost_sessions_note(endpoint.lost_sessions)}", file=sys.stderr)
    session = boto3.Session(region_name=endpoint.region, **endpoint.credentials.for_boto3())
    return Target(
        session=session,
        api_url=endpoint.api_url,
        local_dir=state_dir,
        default_cluster=endpoint.cluster,
    )


def lost_sessions_note(session_ids: tuple[str, ...]) -> str:
    """What the user is told about sessions a dead local AWS left behind."""
    return (
        "the local AWS had died without ending its bastions; they are ended now, and "
        f"these sessions are lost: {', '.join(session_ids)}"
    )

"""Which AWS and which stack a command talks to.

Credentials and region: a boto3 Session, so ``--profile``/``AWS_PROFILE``,
``--region``/``AWS_REGION``/``AWS_DEFAULT_REGION``, the environment's keys, SSO and
instance roles all work as in the AWS CLI. The stack, in order of precedence:

1. ``--state-machine-arn`` / ``--api-url`` / ``--end-session-function`` on the command line;
2. ``BASTION_STATE_MACHINE_ARN`` / ``BASTION_API_URL`` / ``BASTION_END_SESSION_FUNCTION``;
3. ``--stack NAME`` or ``BASTION_STACK``: that CloudFormation stack's outputs
   (``SessionStateMachineArn``, ``EndSessionFunctionArn``, ``ApiUrl``,
   ``BastionLogGroupName``, ``BastionClusterName``);
4. ``--local``: the embedded local AWS (started in the background when needed).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from bastion.cli.errors import CliError, ExitCode

DEFAULT_STACK = "fargate-bastion"
_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3})


def state_root() -> Path:
    """Where the command keeps session keys: ``$BASTION_STATE_DIR`` or XDG state."""
    explicit = os.environ.get("BASTION_STATE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "fargate-bastion"


@dataclass
class Target:
    """An AWS session bound to one deployed stack (or to the local AWS)."""

    session: boto3.Session
    state_machine_arn: str | None = None
    end_session_function: str | None = None
    api_url: str | None = None
    log_group: str | None = None
    ecs_cluster: str | None = None
    endpoint_url: str | None = None
    local_dir: Path | None = None
    _clients: dict[str, Any] = field(default_factory=dict)

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

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(
                service,  # type: ignore[call-overload]
                endpoint_url=self.endpoint_url,
                config=_CLIENT_CONFIG,
            )
        return self._clients[service]

    def require_state_machine(self) -> str:
        if not self.state_machine_arn:
            raise CliError(
                "no session state machine: pass --stack NAME (or set BASTION_STACK), "
                "--state-machine-arn, or use --local",
                ExitCode.CONFIGURATION,
            )
        return self.state_machine_arn


def _stack_outputs(session: boto3.Session, stack: str) -> dict[str, str]:
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
            f"cannot read stack {stack!r}: {error.response['Error'].get('Message', error)}",
            ExitCode.CONFIGURATION,
        ) from None
    outputs = stacks[0].get("Outputs", [])
    return {str(o["OutputKey"]): str(o["OutputValue"]) for o in outputs}


def _api_url(outputs: dict[str, str]) -> str | None:
    for key in ("ApiUrl", "SessionsApiUrl", "ApiEndpoint"):
        if outputs.get(key):
            return outputs[key]
    return None


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
    target = Target(session=session)
    stack = args.stack or os.environ.get("BASTION_STACK")
    explicit_sm = args.state_machine_arn or os.environ.get("BASTION_STATE_MACHINE_ARN")
    explicit_api = args.api_url or os.environ.get("BASTION_API_URL")
    if stack or not (explicit_sm or explicit_api):
        outputs = _stack_outputs(session, stack or DEFAULT_STACK)
        target.state_machine_arn = outputs.get("SessionStateMachineArn")
        target.end_session_function = outputs.get("EndSessionFunctionArn")
        target.api_url = _api_url(outputs)
        target.log_group = outputs.get("BastionLogGroupName")
        target.ecs_cluster = outputs.get("BastionClusterName")
    target.state_machine_arn = explicit_sm or target.state_machine_arn
    target.api_url = explicit_api or target.api_url
    target.end_session_function = (
        args.end_session_function
        or os.environ.get("BASTION_END_SESSION_FUNCTION")
        or target.end_session_function
    )
    return target


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
    outputs = endpoint.outputs
    return Target(
        session=session,
        state_machine_arn=outputs.get("SessionStateMachineArn"),
        end_session_function=outputs.get("EndSessionFunctionArn"),
        api_url=None,
        log_group=outputs.get("BastionLogGroupName"),
        ecs_cluster=outputs.get("BastionClusterName"),
        endpoint_url=endpoint.endpoint_url,
        local_dir=state_dir,
    )


def lost_sessions_note(session_ids: tuple[str, ...]) -> str:
    """What the user is told about sessions a dead local AWS left behind."""
    return (
        "the local AWS had died without ending its bastions; they are ended now, and "
        f"these sessions are lost: {', '.join(session_ids)}"
    )


def caller_arn(target: Target) -> str:
    """Who is asking (STS), the ``requestedBy`` of sessions started via Step Functions."""
    try:
        return str(target.client("sts").get_caller_identity()["Arn"])
    except NoCredentialsError:
        raise CliError(
            "no AWS credentials: configure a profile or pass --profile", ExitCode.CONFIGURATION
        ) from None
    except NoRegionError:
        raise CliError("no AWS region: pass --region", ExitCode.CONFIGURATION) from None
    except ClientError as error:
        raise CliError(
            f"cannot tell who you are (sts:GetCallerIdentity): {error}", ExitCode.CONFIGURATION
        ) from None

"""The tasks' settings: parsed from the environment in this one place.

Logic never reads ``os.environ``; handlers call :func:`load_settings` and pass the
result on. Every variable is set by ``template.yaml``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from tasks.common.access_modes import ACCESS_MODES, PRIVATE, PUBLIC, parse_access_modes
from tasks.common.egress import EgressDestinationError, check_destinations
from tasks.common.validation import check_session_id

#: The stack's name when the environment names none (tests; template.yaml always sets it).
DEFAULT_STACK_NAME = "fargate-bastion"
#: CloudFormation stack names: a letter, then letters, digits and hyphens, 128 at most.
STACK_NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,127}")


def session_parameter_prefix(stack_name: str) -> str:
    """Where a stack's hold parameters live: under the stack's own name."""
    return f"/fargate-bastion/{stack_name}/sessions"


DEFAULT_SESSION_PARAMETER_PREFIX = session_parameter_prefix(DEFAULT_STACK_NAME)
#: ALLOWED_CLUSTERS's value for "every cluster": a choice the operator makes on purpose.
#: An empty setting is a deployment error, never "all".
ALL_CLUSTERS = "*"
#: An administrator of the API: an IAM user or role ARN, or one assumed-role session.
ADMIN_PRINCIPAL_PATTERN = re.compile(
    r"arn:aws[a-z-]*:(iam::[0-9]{12}:(user|role)/[\w+=.@/-]+"
    r"|sts::[0-9]{12}:assumed-role/[\w+=.@-]+/[\w+=.@-]+)"
)
SUBNET_ID_PATTERN = re.compile(r"subnet-[0-9a-f]+")
#: A task definition's family[:revision] or ARN.
TASK_DEFINITION_PATTERN = re.compile(r"[A-Za-z0-9_:/.-]{1,1600}")
#: SSM's rule for document names.
DOCUMENT_NAME_PATTERN = re.compile(r"[A-Za-z0-9_.-]{3,128}")


class SettingsError(ValueError):
    """An environment variable is missing or malformed: a deployment mistake."""


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in env.get(name, "").split(",") if item.strip())


@dataclass(frozen=True)
class Settings:
    """What the stack told the tasks."""

    ecs_cluster: str = ""
    task_definition: str = ""
    container_name: str = "bastion"
    subnets: tuple[str, ...] = ()
    assign_public_ip: bool = True
    default_duration_minutes: int = 60
    max_duration_minutes: int = 480
    widest_ipv4_prefix: int = 24
    widest_ipv6_prefix: int = 64
    max_cidrs: int = 5
    allowed_clusters: tuple[str, ...] = ()
    idle_timeout_minutes: int = 30
    #: Every tag, name and parameter a session creates carries it; teardown and the
    #: sweeper act only on resources of this stack.
    stack_name: str = DEFAULT_STACK_NAME
    session_parameter_prefix: str = DEFAULT_SESSION_PARAMETER_PREFIX
    ssh_user: str = "bastion"
    # Set only for the functions that read them (the API's; FindOrphanedSessions reads
    # the session machine's ARN and the sweeper's grace period).
    session_state_machine_arn: str = ""
    end_session_function_name: str = ""
    request_extension_function_name: str = ""
    #: The bastions' CloudWatch Logs group (the API names each session's stream).
    bastion_log_group: str = ""
    admin_principal_arns: tuple[str, ...] = ()
    #: How long past its expiry a still-running session is left alone by the sweeper.
    sweeper_grace_minutes: int = 15
    #: Running sessions allowed per caller (requestedBy), per cluster and per stack.
    max_sessions_per_caller: int = 2
    max_sessions_per_cluster: int = 20
    max_sessions_per_stack: int = 50
    #: Where the bastion task may connect on 443 besides the control plane (its image
    #: pull and logs): tasks/common/egress.py.
    egress_destinations: tuple[str, ...] = ()
    #: The stack's BastionMode: tunnel (the default) or shell (container/README.md).
    bastion_mode: str = "tunnel"
    #: The access modes the stack allows (tasks/common/access_modes.py), its default first.
    access_modes: tuple[str, ...] = (PUBLIC,)
    #: Where private sessions' tasks run; the bastion subnets when empty.
    private_subnets: tuple[str, ...] = ()
    #: The task definition of private sessions (its task role may open ECS Exec's channels).
    private_task_definition: str = ""
    #: The stack's Session Manager document: a port session to the bastion's sshd only.
    session_document: str = ""

    @property
    def default_access_mode(self) -> str:
        """The mode of a request that names none."""
        return self.access_modes[0]

    def subnets_for(self, access_mode: str) -> tuple[str, ...]:
        """The subnets a session of ``access_mode`` runs its task in."""
        if _checked_mode(access_mode) == PRIVATE:
            return self.private_subnets or self.subnets
        return self.subnets

    def task_definition_for(self, access_mode: str) -> str:
        """The task definition a session of ``access_mode`` runs."""
        if _checked_mode(access_mode) == PRIVATE:
            return self.private_task_definition
        return self.task_definition

    @classmethod
    def from_environ(cls, env: Mapping[str, str]) -> Settings:
        """Parse the settings from an environment mapping."""
        max_duration = _int(env, "MAX_DURATION_MINUTES", 480, 1, 7 * 24 * 60)
        assign = env.get("BASTION_ASSIGN_PUBLIC_IP", "ENABLED").strip().upper()
        if assign not in ("ENABLED", "DISABLED"):
            raise SettingsError(
                f"BASTION_ASSIGN_PUBLIC_IP must be ENABLED or DISABLED, got {assign!r}"
            )
        stack_name = env.get("STACK_NAME", "").strip() or DEFAULT_STACK_NAME
        if not STACK_NAME_PATTERN.fullmatch(stack_name):
            raise SettingsError(
                f"STACK_NAME must be a CloudFormation stack name, got {stack_name!r}"
            )
        prefix = (
            env.get("SESSION_PARAMETER_PREFIX", "").strip() or session_parameter_prefix(stack_name)
        ).rstrip("/")
        if not prefix.startswith("/"):
            raise SettingsError(f"SESSION_PARAMETER_PREFIX must start with '/', got {prefix!r}")
        admins = _list(env, "ADMIN_PRINCIPAL_ARNS")
        for admin in admins:
            if not ADMIN_PRINCIPAL_PATTERN.fullmatch(admin):
                raise SettingsError(
                    "ADMIN_PRINCIPAL_ARNS must list IAM user or role ARNs (or assumed-role "
                    f"session ARNs), got {admin!r}"
                )
        return cls(
            ecs_cluster=env.get("BASTION_ECS_CLUSTER", ""),
            task_definition=env.get("BASTION_TASK_DEFINITION", ""),
            container_name=env.get("BASTION_CONTAINER_NAME", "bastion") or "bastion",
            subnets=_list(env, "BASTION_SUBNETS"),
            assign_public_ip=assign == "ENABLED",
            default_duration_minutes=_int(env, "DEFAULT_DURATION_MINUTES", 60, 1, max_duration),
            max_duration_minutes=max_duration,
            widest_ipv4_prefix=_int(env, "WIDEST_IPV4_PREFIX", 24, 1, 32),
            widest_ipv6_prefix=_int(env, "WIDEST_IPV6_PREFIX", 64, 1, 128),
            max_cidrs=_int(env, "MAX_ALLOWED_CIDRS", 5, 1, 50),
            allowed_clusters=_list(env, "ALLOWED_CLUSTERS"),
            idle_timeout_minutes=_int(env, "IDLE_TIMEOUT_MINUTES", 30, 1, 24 * 60),
            stack_name=stack_name,
            session_parameter_prefix=prefix,
            ssh_user=env.get("BASTION_SSH_USER", "bastion") or "bastion",
            session_state_machine_arn=env.get("SESSION_STATE_MACHINE_ARN", ""),
            end_session_function_name=env.get("END_SESSION_FUNCTION_NAME", ""),
            request_extension_function_name=env.get("REQUEST_EXTENSION_FUNCTION_NAME", ""),
            bastion_log_group=env.get("BASTION_LOG_GROUP", ""),
            admin_principal_arns=admins,
            sweeper_grace_minutes=_int(env, "SWEEPER_GRACE_MINUTES", 15, 0, 24 * 60),
            max_sessions_per_caller=_int(env, "MAX_SESSIONS_PER_CALLER", 2, 1, 50),
            max_sessions_per_cluster=_int(env, "MAX_SESSIONS_PER_CLUSTER", 20, 1, 55),
            max_sessions_per_stack=_int(env, "MAX_SESSIONS_PER_STACK", 50, 1, 1000),
            egress_destinations=_egress_destinations(env),
            bastion_mode=_bastion_mode(env),
            access_modes=_access_modes(env),
            private_subnets=_matching(
                env, "BASTION_PRIVATE_SUBNETS", SUBNET_ID_PATTERN, "a subnet id"
            ),
            private_task_definition=_one_matching(
                env,
                "BASTION_PRIVATE_TASK_DEFINITION",
                TASK_DEFINITION_PATTERN,
                "a task definition (family:revision or ARN)",
            ),
            session_document=_one_matching(
                env, "BASTION_SESSION_DOCUMENT", DOCUMENT_NAME_PATTERN, "an SSM document name"
            ),
        )

    def parameter_name(self, session_id: str) -> str:
        """Where HoldSession keeps the session's task token (the id is checked first)."""
        return f"{self.session_parameter_prefix}/{check_session_id(session_id)}"

    def session_execution_arn(self, session_id: str) -> str:
        """The ARN of the session state machine's execution named ``session_id``."""
        machine = self.session_state_machine_arn
        if ":stateMachine:" not in machine:
            raise SettingsError(
                f"SESSION_STATE_MACHINE_ARN must be a state machine ARN, got {machine!r}"
            )
        execution = check_session_id(session_id)
        return f"{machine.replace(':stateMachine:', ':execution:', 1)}:{execution}"


def _egress_destinations(env: Mapping[str, str]) -> tuple[str, ...]:
    destinations = _list(env, "BASTION_EGRESS_DESTINATIONS")
    try:
        return check_destinations(destinations, "BASTION_EGRESS_DESTINATIONS")
    except EgressDestinationError as error:
        raise SettingsError(str(error)) from None


def _bastion_mode(env: Mapping[str, str]) -> str:
    mode = env.get("BASTION_MODE", "tunnel").strip() or "tunnel"
    if mode not in ("tunnel", "shell"):
        raise SettingsError(f"BASTION_MODE must be tunnel or shell, got {mode!r}")
    return mode


def _checked_mode(access_mode: str) -> str:
    if access_mode not in ACCESS_MODES:
        raise SettingsError(f"not an access mode: {access_mode!r}")
    return access_mode


def _access_modes(env: Mapping[str, str]) -> tuple[str, ...]:
    try:
        return parse_access_modes(env.get("BASTION_ACCESS_MODES", ""))
    except ValueError as error:
        raise SettingsError(f"BASTION_ACCESS_MODES {error}") from None


def _matching(
    env: Mapping[str, str], name: str, pattern: re.Pattern[str], shape: str
) -> tuple[str, ...]:
    values = _list(env, name)
    for value in values:
        if not pattern.fullmatch(value):
            raise SettingsError(f"{name} holds {value[:200]!r}, which is not {shape}")
    return values


def _one_matching(env: Mapping[str, str], name: str, pattern: re.Pattern[str], shape: str) -> str:
    value = env.get(name, "").strip()
    if value and not pattern.fullmatch(value):
        raise SettingsError(f"{name} is {value[:200]!r}, which is not {shape}")
    return value


def load_settings() -> Settings:
    """The settings of this Lambda invocation."""
    return Settings.from_environ(os.environ)

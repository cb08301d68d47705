"""The workflow's error vocabulary.

Each class name is exactly the ``ErrorEquals`` string the state machines retry or
catch: Lambda reports an unhandled exception's class name as the error, and Step
Functions matches on it. Rename a class only together with the workflows.
"""

from __future__ import annotations


class BastionError(Exception):
    """Base of every error a task raises on purpose."""


class InvalidRequest(BastionError):
    """The session request is wrong; nothing has been created.

    The message always starts with the name of the field at fault. Both are cut short
    when a request echoes something huge: the message stays readable, and far below the
    32,768 characters Step Functions keeps of an error's cause.
    """

    def __init__(self, field: str, problem: str) -> None:
        field, problem = field_label(field), _cut(problem, MAX_PROBLEM_CHARS)
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


#: How much of a field name and of a problem an InvalidRequest message shows.
MAX_FIELD_CHARS = 100
MAX_PROBLEM_CHARS = 1000


def field_label(name: str) -> str:
    """How a message names a field: quoted when its name is empty, blank or holds
    characters that are not printable (control characters, escape sequences), cut short
    when it is long."""
    return _cut(name if name.strip() and name.isprintable() else repr(name), MAX_FIELD_CHARS)


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


class StepInputInvalid(BastionError):
    """A step's input lacks a field the step needs (or holds there what no step writes):
    an earlier step answered without it.

    The state machines hand each step whole results of earlier steps (a step that
    succeeded always wrote its result), never a field of one, which would fail the
    execution past every Catch when missing; the step looks for the field itself and
    raises this, naming it, so the failure is caught into the teardown like any other.
    """


class StackMisconfigured(BastionError):
    """The stack's own settings forbid every request (for example an empty AllowedClusters):
    a deployment error, refused before anything is created."""


class SessionLimitReached(BastionError):
    """Starting this session would exceed one of the stack's caps on running sessions.

    The message names the limit (MaxSessionsPerCaller, MaxSessionsPerCluster or
    MaxSessionsPerStack); nothing has been created.
    """

    def __init__(self, limit: str, message: str) -> None:
        super().__init__(f"{limit}: {message}")
        self.limit = limit


class ClusterNotFound(BastionError):
    """No EKS cluster of that name exists in this account and region."""


class ClusterNotPrivate(BastionError):
    """The cluster's API endpoint has no private access, so a bastion cannot reach it."""


class ControlPlaneSecurityGroupNotFound(BastionError):
    """The cluster's control-plane security group could not be determined."""


class CapacityUnavailable(BastionError):
    """RunTask answered with ``failures`` (no Fargate capacity, or similar)."""


class BastionNotReady(BastionError):
    """The bastion task has no address yet. The workflow retries this: it is the poll."""


class BastionTaskStopped(BastionError):
    """The bastion task stopped before it was ready."""


class BastionStartedInvalid(BastionError):
    """The bastion's started line cannot be trusted (not JSON, another task's or session's,
    host keys that are not plain host keys with their own fingerprints), or a private
    bastion's runtime id is not of a runtime id's shape: the session is never reported
    ready, and is torn down."""


class SessionSecurityGroupInUse(BastionError):
    """The session security group is still attached or referenced (DependencyViolation).

    Retried with backoff: a stopped Fargate task releases its network interface late.
    """


class SessionNotHeld(BastionError):
    """No session is holding under that id (not started yet, or already ended)."""


class SessionExtensionRequested(BastionError):
    """Never raised by a task: the error an extension request answers the hold's task token
    with (SendTaskFailure, the request as JSON in its cause), which the session machine
    catches to extend the hold (:mod:`tasks.common.extensions`)."""


class AwsThrottled(BastionError):
    """AWS throttled a call (RequestLimitExceeded, ThrottlingException). Retried with jitter."""


class AwsUnavailable(BastionError):
    """AWS answered a call with a server-side error (HTTP 5xx: InternalError,
    ServiceUnavailable...) after the SDK's own retries. Transient: retried with jitter.
    """


class ControlPlaneRuleQuotaReached(BastionError):
    """The control-plane security group has no room for the session's rule.

    Each concurrent session adds one inbound rule; a security group holds 60 inbound
    rules by default (RulesPerSecurityGroupLimitExceeded).
    """


#: Every name above, for the lint that checks the workflows' ErrorEquals lists.
TASK_ERROR_NAMES: frozenset[str] = frozenset(cls.__name__ for cls in BastionError.__subclasses__())

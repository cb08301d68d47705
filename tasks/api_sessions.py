"""The session service behind the API's routes: start, look at and list sessions, and list
what one owns (ending and extending one: :mod:`tasks.api_session_changes`).

Every function takes the verified caller, the settings and the AWS clients it needs, and
raises :class:`~tasks.api_identity.ApiError` (or InvalidRequest, a 400) for anything but
success. A session belongs to one cluster: a route that names another cluster does not
find it, so a grant of ``execute-api:Invoke`` on one cluster's routes reaches that
cluster's sessions and no other's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from typing import Any

from botocore.exceptions import ClientError

from tasks.api_identity import ApiError, Caller, is_admin, may_manage
from tasks.api_requests import StartRequest
from tasks.api_view import (
    SessionView,
    execution_request,
    history,
    iso,
    view_session,
)
from tasks.common.bastion_started import bastion_log_stream
from tasks.common.errors import InvalidRequest, SessionLimitReached
from tasks.common.observability import error_code, logger
from tasks.common.session_caps import check_session_caps, running_sessions
from tasks.common.session_resources import find_session_resources
from tasks.common.settings import Settings

DEFAULT_LIST_LIMIT = 20
MAX_LIST_LIMIT = 100


@dataclass(frozen=True)
class StartedSession:
    """What POST answers."""

    session_id: str
    cluster: str
    execution_arn: str
    started_at: str
    status: str = "RUNNING"

    def to_dict(self) -> dict[str, Any]:
        return {
            "sessionId": self.session_id,
            "cluster": self.cluster,
            "executionArn": self.execution_arn,
            "status": self.status,
            "startedAt": self.started_at,
        }


def start_session(start: StartRequest, *, settings: Settings, sfn: Any) -> StartedSession:
    """Start the session's execution (named by the session id: a retry starts nothing new).

    The caps are checked first, for a 429 before anything starts; the session machine's
    ValidateRequest checks them again by its place among the running sessions, which
    settles a burst of simultaneous starts.
    """
    try:
        # A retry of a running session ranks where that session stands, so it still passes.
        check_session_caps(
            sfn,
            settings,
            requested_by=start.request.requested_by,
            cluster=start.request.cluster,
            session_id=start.session_id,
        )
    except SessionLimitReached as refused:
        raise ApiError(HTTPStatus.TOO_MANY_REQUESTS, str(refused), limit=refused.limit) from None
    try:
        started = sfn.start_execution(
            stateMachineArn=settings.session_state_machine_arn,
            name=start.session_id,
            input=start.execution_input(),
        )
    except ClientError as error:
        if error_code(error) != "ExecutionAlreadyExists":
            raise
        raise ApiError(
            HTTPStatus.CONFLICT,
            f"sessionId: session {start.session_id!r} already exists with another request, "
            "or has already ended; choose another id (or leave it out for a new one)",
            "sessionId",
        ) from None
    return StartedSession(
        session_id=start.session_id,
        cluster=start.request.cluster,
        execution_arn=str(started["executionArn"]),
        started_at=iso(started["startDate"]),
    )


def find_session(
    sfn: Any, settings: Settings, cluster: str, session_id: str, caller: Caller
) -> dict[str, Any]:
    """The execution of ``session_id`` on ``cluster``: 404 when there is none there,
    403 when the caller is neither its requester nor an administrator."""
    try:
        described: dict[str, Any] = sfn.describe_execution(
            executionArn=settings.session_execution_arn(session_id)
        )
    except ClientError as error:
        if error_code(error) != "ExecutionDoesNotExist":
            raise
        described = {}
    request = execution_request(described)
    if not described or request.get("cluster") != cluster:
        raise ApiError(HTTPStatus.NOT_FOUND, f"no session {session_id!r} on cluster {cluster!r}")
    requested_by = request.get("requestedBy")
    if not may_manage(caller, requested_by if isinstance(requested_by, str) else None, settings):
        raise ApiError(
            HTTPStatus.FORBIDDEN,
            "only the IAM identity that started this session, or an administrator, may see "
            "or end it",
        )
    return described


def get_session(
    cluster: str, session_id: str, caller: Caller, *, settings: Settings, sfn: Any, eks: Any
) -> SessionView:
    """GET one session: its view, where its bastion logs, and while it is ready, what a
    kubeconfig needs (so that the caller needs no permission but the API's)."""
    described = find_session(sfn, settings, cluster, session_id, caller)
    view = view_session(described, history(sfn, str(described["executionArn"])))
    if view.task_arn and settings.bastion_log_group:
        task_id = view.task_arn.rsplit("/", 1)[-1]
        view = replace(
            view,
            log_group=settings.bastion_log_group,
            log_stream=bastion_log_stream(settings.container_name, task_id),
        )
    if view.phase != "ready":
        return view
    try:
        found = eks.describe_cluster(name=cluster)["cluster"]
    except ClientError as error:
        logger.warning("describing the cluster failed", extra={"code": error_code(error)})
        return view
    return replace(
        view,
        cluster_endpoint=found.get("endpoint"),
        cluster_certificate_authority=(found.get("certificateAuthority") or {}).get("data"),
    )


def session_resources(
    cluster: str,
    session_id: str,
    caller: Caller,
    *,
    settings: Settings,
    sfn: Any,
    ec2: Any,
    ecs: Any,
    ssm: Any,
) -> dict[str, Any]:
    """GET a session's resources: what it owns now, as teardown finds it (an ended
    session owns nothing; anything listed for it has leaked)."""
    described = find_session(sfn, settings, cluster, session_id, caller)
    owned = find_session_resources(session_id, settings=settings, ec2=ec2, ecs=ecs, ssm=ssm)
    return {
        "sessionId": session_id,
        "cluster": cluster,
        "status": described["status"],
        **owned.to_dict(),
    }


@dataclass(frozen=True)
class SessionList:
    """What the list routes answer."""

    sessions: list[dict[str, Any]] = field(default_factory=list)
    #: More running sessions exist than the limit let through.
    truncated: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"sessions": self.sessions, "truncated": self.truncated}


def list_sessions(
    caller: Caller,
    *,
    settings: Settings,
    sfn: Any,
    limit: int = DEFAULT_LIST_LIMIT,
    cluster: str | None = None,
) -> SessionList:
    """The caller's running sessions (everyone's for an admin), newest first.

    Costs one ListExecutions of the RUNNING executions and one DescribeExecution per
    running session of the stack (which the caps bound), never the executions that ended:
    an ended session is looked at by its id.
    """
    admin = is_admin(caller.user_arn, settings.admin_principal_arns)
    found = [
        {
            "sessionId": running.session_id,
            "status": "RUNNING",
            "cluster": running.cluster,
            "requestedBy": running.requested_by,
            "startedAt": iso(running.started_at),
        }
        for running in reversed(running_sessions(sfn, settings.session_state_machine_arn))
        if (admin or running.requested_by == caller.user_arn)
        and (cluster is None or running.cluster == cluster)
    ]
    return SessionList(found[:limit], truncated=len(found) > limit)


def list_limit(query: Mapping[str, str] | None) -> int:
    """``limit`` (1 to MAX_LIST_LIMIT) from the query string."""
    query = query or {}
    unknown = sorted(set(query) - {"limit"})
    if unknown:
        raise InvalidRequest(unknown[0], "is not a known query parameter (known: limit)")
    raw = query.get("limit")
    if raw is None:
        return DEFAULT_LIST_LIMIT
    # ASCII digits only: str.isdigit() is true of "²", which int() refuses.
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LIST_LIMIT:
        raise InvalidRequest("limit", f"must be a whole number from 1 to {MAX_LIST_LIMIT}")
    return int(raw)

"""The session API: a REST API with AWS_IAM auth in front of the session state machine.

``POST /sessions`` starts a session, ``GET /sessions/{id}`` tells how it is going,
``GET /sessions`` lists the caller's sessions and ``DELETE /sessions/{id}`` ends one early.

Who asks comes from API Gateway's SigV4-verified request context, never from the body:
``requestedBy`` is the caller's IAM ARN (``requestContext.identity.userArn``) and the
default ``allowedCidrs`` is the caller's own address (``sourceIp``, /32 or /128). A body
that names ``requestedBy`` is refused (400), not silently overridden, so a client that
believes it can act for someone else learns at once that it cannot.

Bad input never reaches the state machine: the body goes through the same checks as
ValidateRequest (plus the cluster look-up), so the caller gets a 400 naming the field at
once. Errors are ``{"message", "field"}``; ``field`` is null when no field is at fault.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from botocore.exceptions import ClientError

from tasks.common.aws import client
from tasks.common.errors import InvalidRequest
from tasks.common.observability import THROTTLING_CODES, error_code, logger, tracer
from tasks.common.settings import Settings, load_settings
from tasks.common.validation import check_session_id
from tasks.validate_request import (
    check_allowed_cidrs,
    check_cluster_name,
    check_cluster_reachable,
    check_duration,
    check_requested_by,
    check_ssh_public_key,
)

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

#: What a POST body may hold. ``requestedBy`` is deliberately absent: see the module doc.
BODY_FIELDS = frozenset({"sessionId", "cluster", "sshPublicKey", "allowedCidrs", "durationMinutes"})
END_REASON = "ended-by-user"
#: The error a DELETE during setup stops the execution with (ExecutionAborted's details).
ABORTED_BY_USER = "SessionEndedByUser"
DEFAULT_LIST_LIMIT = 20
MAX_LIST_LIMIT = 100
#: GET /sessions describes at most this many executions (to read who started each).
MAX_EXECUTIONS_SCANNED = 100
EXECUTION_STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")

#: The session machine's states before the bastion is ready, and while it holds; any
#: other state (MarkSessionExpired, the teardown chain, the outcome) means it is ending.
STARTING_STATES = frozenset(
    {
        "ValidateRequest",
        "FindControlPlane",
        "CreateSessionSecurityGroup",
        "RunBastionTask",
        "AuthorizeControlPlaneIngress",
        "WaitForBastionAddress",
    }
)
READY_STATE = "BastionReady"
HOLDING_STATES = frozenset({READY_STATE, "HoldSession"})

app = APIGatewayRestResolver()


class ApiError(Exception):
    """An answer other than success, with the field at fault if there is one."""

    def __init__(self, status: HTTPStatus, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


# ----------------------------------------------------------------------- identity


@dataclass(frozen=True)
class Caller:
    """Who signed the request, as API Gateway verified it."""

    user_arn: str
    account_id: str | None = None
    source_ip: str | None = None

    @property
    def short_name(self) -> str:
        """A readable name for session ids: the user, or the assumed role's session name."""
        resource = self.user_arn.split(":", 5)[-1]
        name = resource.rsplit("/", 1)[-1].split("@", 1)[0]
        cleaned = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-_")[:32]
        return cleaned or "session"

    def default_cidrs(self) -> list[str] | None:
        """The caller's own address as a single-host network, if it is an address at all."""
        try:
            address = ipaddress.ip_address(self.source_ip or "")
        except ValueError:
            # The console's test invocations say "test-invoke-source-ip".
            return None
        return [f"{address}/{address.max_prefixlen}"]


def caller_from_event(event: Mapping[str, Any]) -> Caller:
    """The verified caller of a REST proxy event; 403 when the request was not signed."""
    context = event.get("requestContext")
    identity = context.get("identity") if isinstance(context, Mapping) else None
    if not isinstance(identity, Mapping):
        identity = {}
    user_arn = identity.get("userArn")
    if not isinstance(user_arn, str) or not user_arn.startswith("arn:"):
        raise ApiError(
            HTTPStatus.FORBIDDEN,
            "the request carries no verified IAM identity: call this API with "
            "SigV4-signed requests (its methods use AWS_IAM authorization)",
        )
    account = identity.get("accountId")
    source = identity.get("sourceIp")
    return Caller(
        user_arn=user_arn,
        account_id=account if isinstance(account, str) else None,
        source_ip=source if isinstance(source, str) else None,
    )


@dataclass(frozen=True)
class _Arn:
    partition: str
    service: str
    account: str
    resource: str

    @classmethod
    def parse(cls, text: str) -> _Arn | None:
        parts = text.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn":
            return None
        return cls(partition=parts[1], service=parts[2], account=parts[4], resource=parts[5])


def _assumed_role_name(arn: _Arn) -> str | None:
    """ROLE of ``arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION``, else None."""
    parts = arn.resource.split("/")
    if arn.service != "sts" or len(parts) != 3 or parts[0] != "assumed-role":
        return None
    return parts[1] or None


def _role_name(arn: _Arn) -> str | None:
    """NAME of ``arn:aws:iam::ACCOUNT:role/PATH/NAME``, else None."""
    parts = arn.resource.split("/")
    if arn.service != "iam" or len(parts) < 2 or parts[0] != "role":
        return None
    return parts[-1] or None


def is_admin(user_arn: str, admin_arns: Iterable[str]) -> bool:
    """Whether the caller is one of the administrators.

    An entry matches the caller's ARN exactly (an IAM user, or one assumed-role session),
    or is the IAM role whose session the caller is: the role ARN may carry a path that
    the session ARN drops, and role names are unique in an account, so the role matches
    by partition, account and name.
    """
    caller = _Arn.parse(user_arn)
    role = _assumed_role_name(caller) if caller else None
    for admin in admin_arns:
        if admin == user_arn:
            return True
        entry = _Arn.parse(admin)
        if caller is None or role is None or entry is None:
            continue
        if (entry.partition, entry.account) == (caller.partition, caller.account) and (
            _role_name(entry) == role
        ):
            return True
    return False


def may_manage(caller: Caller, requested_by: str | None, settings: Settings) -> bool:
    """The requester (exactly the ARN that started it) or an administrator."""
    return requested_by == caller.user_arn or is_admin(
        caller.user_arn, settings.admin_principal_arns
    )


# ----------------------------------------------------------------------- POST /sessions


def parse_body(raw: Any, is_base64: bool = False) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 naming ``body``."""
    if raw is None or raw == "":
        raise ApiError(HTTPStatus.BAD_REQUEST, "body: is required (a JSON object)", "body")
    try:
        text = base64.b64decode(raw, validate=True).decode() if is_base64 else str(raw)
        body = json.loads(text)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ApiError(HTTPStatus.BAD_REQUEST, "body: is not valid JSON", "body") from None
    if not isinstance(body, dict):
        raise ApiError(HTTPStatus.BAD_REQUEST, "body: must be a JSON object", "body")
    return body


@dataclass(frozen=True)
class StartRequest:
    """A checked request to start a session: the execution's name and input."""

    session_id: str
    cluster: str
    ssh_public_key: str
    allowed_cidrs: tuple[str, ...]
    duration_minutes: int | None
    requested_by: str

    def execution_input(self) -> str:
        """The execution's input; sorted keys keep a retried request's input identical."""
        request: dict[str, Any] = {
            "cluster": self.cluster,
            "sshPublicKey": self.ssh_public_key,
            "allowedCidrs": list(self.allowed_cidrs),
            "requestedBy": self.requested_by,
        }
        if self.duration_minutes is not None:
            request["durationMinutes"] = self.duration_minutes
        return json.dumps(request, sort_keys=True)


def new_session_id(caller: Caller) -> str:
    """``<short name>-<random>``: readable in the console, unique, a valid execution name."""
    return f"{caller.short_name}-{secrets.token_hex(4)}"


def check_start_request(
    body: Mapping[str, Any],
    caller: Caller,
    *,
    settings: Settings,
    eks: Any,
    new_id: Callable[[Caller], str] = new_session_id,
) -> StartRequest:
    """The request the body and the caller make, checked as ValidateRequest would."""
    if "requestedBy" in body:
        raise InvalidRequest(
            "requestedBy",
            "is taken from your signed IAM identity and cannot be set in the body",
        )
    unknown = sorted(str(name) for name in body if name not in BODY_FIELDS)
    if unknown:
        known = ", ".join(sorted(BODY_FIELDS))
        raise InvalidRequest(unknown[0], f"is not a known field (known: {known})")
    session_id = new_id(caller) if body.get("sessionId") is None else body["sessionId"]
    session_id = check_session_id(session_id)
    cluster = check_cluster_name(body.get("cluster"), settings)
    ssh_public_key = check_ssh_public_key(body.get("sshPublicKey"))
    cidrs = body.get("allowedCidrs")
    if cidrs is None:
        cidrs = caller.default_cidrs()
        if cidrs is None:
            raise InvalidRequest(
                "allowedCidrs", "is required: the request carries no source address to default to"
            )
    allowed_cidrs = check_allowed_cidrs(cidrs, settings)
    duration = body.get("durationMinutes")
    if duration is not None:
        duration = check_duration(duration, settings)
    requested_by = check_requested_by(caller.user_arn)
    # The one check that costs an AWS call comes last.
    check_cluster_reachable(eks, cluster)
    return StartRequest(
        session_id=session_id,
        cluster=cluster,
        ssh_public_key=ssh_public_key,
        allowed_cidrs=allowed_cidrs,
        duration_minutes=duration,
        requested_by=requested_by,
    )


@dataclass(frozen=True)
class StartedSession:
    """What POST /sessions answers."""

    session_id: str
    execution_arn: str
    started_at: str
    status: str = "RUNNING"

    def to_dict(self) -> dict[str, Any]:
        return {
            "sessionId": self.session_id,
            "executionArn": self.execution_arn,
            "status": self.status,
            "startedAt": self.started_at,
        }


def start_session(request: StartRequest, *, settings: Settings, sfn: Any) -> StartedSession:
    """Start the session's execution (named by the session id: a retry starts nothing new)."""
    try:
        started = sfn.start_execution(
            stateMachineArn=settings.session_state_machine_arn,
            name=request.session_id,
            input=request.execution_input(),
        )
    except ClientError as error:
        if error_code(error) != "ExecutionAlreadyExists":
            raise
        raise ApiError(
            HTTPStatus.CONFLICT,
            f"sessionId: session {request.session_id!r} already exists with another request, "
            "or has already ended; choose another id (or leave it out for a new one)",
            "sessionId",
        ) from None
    return StartedSession(
        session_id=request.session_id,
        execution_arn=str(started["executionArn"]),
        started_at=_iso(started["startDate"]),
    )


# ----------------------------------------------------------------------- GET /sessions/{id}


@dataclass(frozen=True)
class Step:
    """A state the execution entered, and when it left it."""

    name: str
    entered_at: str
    exited_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "enteredAt": self.entered_at, "exitedAt": self.exited_at}


@dataclass(frozen=True)
class SessionView:
    """What GET /sessions/{id} answers."""

    session_id: str
    execution_arn: str
    status: str
    phase: str
    requested_by: str | None
    cluster: str | None
    started_at: str
    stopped_at: str | None
    steps: tuple[Step, ...] = ()
    address: str | None = None
    ssh_command: str | None = None
    expires_at: str | None = None
    end_reason: str | None = None
    error: dict[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "sessionId": self.session_id,
            "executionArn": self.execution_arn,
            "status": self.status,
            "phase": self.phase,
            "requestedBy": self.requested_by,
            "cluster": self.cluster,
            "startedAt": self.started_at,
            "stoppedAt": self.stopped_at,
            "address": self.address,
            "sshCommand": self.ssh_command,
            "expiresAt": self.expires_at,
            "endReason": self.end_reason,
            "error": self.error,
            "steps": [step.to_dict() for step in self.steps],
        }


def describe_execution(sfn: Any, settings: Settings, session_id: str) -> dict[str, Any]:
    """The execution of ``session_id``; 404 when there is none."""
    try:
        described: dict[str, Any] = sfn.describe_execution(
            executionArn=settings.session_execution_arn(session_id)
        )
    except ClientError as error:
        if error_code(error) != "ExecutionDoesNotExist":
            raise
        raise ApiError(HTTPStatus.NOT_FOUND, f"no session {session_id!r}") from None
    return described


def execution_request(described: Mapping[str, Any]) -> dict[str, Any]:
    """The execution's input as an object ({} when it is not one: refused at validation)."""
    try:
        request = json.loads(described.get("input") or "{}")
    except ValueError:
        return {}
    return request if isinstance(request, dict) else {}


def authorize(caller: Caller, described: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    """The execution's input, if the caller may see and end it; 403 if not."""
    request = execution_request(described)
    requested_by = request.get("requestedBy")
    if not may_manage(caller, requested_by if isinstance(requested_by, str) else None, settings):
        raise ApiError(
            HTTPStatus.FORBIDDEN,
            "only the IAM identity that started this session, or an administrator, may see "
            "or end it",
        )
    return request


def history(sfn: Any, arn: str) -> list[dict[str, Any]]:
    """The execution's whole event history, oldest first."""
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
        events.extend(page["events"])
    return events


def steps_of(events: Iterable[Mapping[str, Any]]) -> tuple[Step, ...]:
    """The states entered, in order, each with when it was left (None while in it)."""
    steps: list[Step] = []
    for event in events:
        if "stateEnteredEventDetails" in event:
            name = str(event["stateEnteredEventDetails"].get("name", ""))
            steps.append(Step(name, _iso(event["timestamp"])))
        elif "stateExitedEventDetails" in event:
            name = str(event["stateExitedEventDetails"].get("name", ""))
            for index in range(len(steps) - 1, -1, -1):
                if steps[index].name == name and steps[index].exited_at is None:
                    steps[index] = Step(name, steps[index].entered_at, _iso(event["timestamp"]))
                    break
    return tuple(steps)


def ready_document(events: Iterable[Mapping[str, Any]]) -> dict[str, Any] | None:
    """BastionReady's ``$.ready``: sessionId, cluster, address, sshCommand, expiresAt."""
    for event in events:
        details = event.get("stateExitedEventDetails", {})
        if details.get("name") == READY_STATE:
            try:
                ready = json.loads(details.get("output") or "{}").get("ready")
            except (ValueError, AttributeError):
                return None
            return ready if isinstance(ready, dict) else None
    return None


def phase_of(status: str, steps: Iterable[Step], ready: Mapping[str, Any] | None) -> str:
    """starting, ready, ending, ended (SUCCEEDED or stopped) or failed."""
    if status == "SUCCEEDED" or status == "ABORTED":
        return "ended"
    if status != "RUNNING":
        return "failed"
    names = {step.name for step in steps}
    if names - STARTING_STATES - HOLDING_STATES:
        return "ending"
    return "ready" if ready is not None else "starting"


def error_message(cause: str) -> str:
    """The readable part of a cause: a Lambda error's cause is JSON with errorMessage."""
    try:
        return str(json.loads(cause)["errorMessage"])
    except (ValueError, KeyError, TypeError):
        return cause


def _abort_details(events: Iterable[Mapping[str, Any]]) -> Mapping[str, Any]:
    for event in events:
        if "executionAbortedEventDetails" in event:
            details: Mapping[str, Any] = event["executionAbortedEventDetails"]
            return details
    return {}


def end_of(
    described: Mapping[str, Any], events: list[dict[str, Any]]
) -> tuple[str | None, dict[str, str] | None]:
    """Why the session ended, and the error if it failed: (endReason, error)."""
    status = described["status"]
    if status == "SUCCEEDED":
        try:
            end = json.loads(described.get("output") or "{}").get("end") or {}
        except (ValueError, AttributeError):
            end = {}
        return str(end.get("reason") or "ended"), None
    if status == "ABORTED":
        details = _abort_details(events)
        by_user = details.get("error") == ABORTED_BY_USER
        return (END_REASON if by_user else "aborted"), None
    if status in ("FAILED", "TIMED_OUT"):
        error = {
            "error": str(described.get("error") or status),
            "message": error_message(str(described.get("cause") or "")),
        }
        return ("failed" if status == "FAILED" else "timed-out"), error
    return None, None


def view_session(described: Mapping[str, Any], events: list[dict[str, Any]]) -> SessionView:
    """The session as GET /sessions/{id} shows it."""
    request = execution_request(described)
    steps = steps_of(events)
    ready = ready_document(events)
    status = str(described["status"])
    phase = phase_of(status, steps, ready)
    end_reason, error = end_of(described, events)
    connect = ready if phase == "ready" and ready is not None else {}
    requested_by = request.get("requestedBy")
    cluster = request.get("cluster")
    return SessionView(
        session_id=str(described["name"]),
        execution_arn=str(described["executionArn"]),
        status=status,
        phase=phase,
        requested_by=requested_by if isinstance(requested_by, str) else None,
        cluster=cluster if isinstance(cluster, str) else None,
        started_at=_iso(described["startDate"]),
        stopped_at=_iso(described["stopDate"]) if described.get("stopDate") else None,
        steps=steps,
        address=connect.get("address"),
        ssh_command=connect.get("sshCommand"),
        expires_at=(ready or {}).get("expiresAt"),
        end_reason=end_reason,
        error=error,
    )


def get_session(session_id: str, caller: Caller, *, settings: Settings, sfn: Any) -> SessionView:
    """GET /sessions/{id}: 404 if unknown, 403 if neither the requester nor an admin."""
    described = describe_execution(sfn, settings, session_id)
    authorize(caller, described, settings)
    return view_session(described, history(sfn, str(described["executionArn"])))


# ----------------------------------------------------------------------- GET /sessions


@dataclass(frozen=True)
class SessionList:
    """What GET /sessions answers."""

    sessions: list[dict[str, Any]] = field(default_factory=list)
    #: More executions exist than were looked at (the limit, or the scan bound).
    truncated: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"sessions": self.sessions, "truncated": self.truncated}


def list_sessions(
    caller: Caller,
    *,
    settings: Settings,
    sfn: Any,
    limit: int = DEFAULT_LIST_LIMIT,
    status: str | None = None,
) -> SessionList:
    """The caller's sessions (everyone's for an admin), newest first.

    Who started a session is in its execution's input, so each execution is described;
    at most MAX_EXECUTIONS_SCANNED of them, and ``truncated`` says when more exist.
    """
    admin = is_admin(caller.user_arn, settings.admin_principal_arns)
    params: dict[str, Any] = {"stateMachineArn": settings.session_state_machine_arn}
    if status:
        params["statusFilter"] = status
    found: list[dict[str, Any]] = []
    scanned = 0
    for page in sfn.get_paginator("list_executions").paginate(**params):
        for execution in page["executions"]:
            if len(found) >= limit or scanned >= MAX_EXECUTIONS_SCANNED:
                return SessionList(found, truncated=True)
            scanned += 1
            described = sfn.describe_execution(executionArn=execution["executionArn"])
            request = execution_request(described)
            if admin or request.get("requestedBy") == caller.user_arn:
                found.append(_summary(described, request))
    return SessionList(found, truncated=False)


def _summary(described: Mapping[str, Any], request: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "sessionId": described["name"],
        "status": described["status"],
        "cluster": request.get("cluster"),
        "requestedBy": request.get("requestedBy"),
        "startedAt": _iso(described["startDate"]),
        "stoppedAt": _iso(described["stopDate"]) if described.get("stopDate") else None,
    }


def list_parameters(query: Mapping[str, str] | None) -> tuple[int, str | None]:
    """``limit`` (1 to MAX_LIST_LIMIT) and ``status`` from the query string."""
    query = query or {}
    unknown = sorted(set(query) - {"limit", "status"})
    if unknown:
        raise InvalidRequest(unknown[0], "is not a known query parameter (known: limit, status)")
    limit = DEFAULT_LIST_LIMIT
    if query.get("limit") is not None:
        raw = query["limit"]
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIST_LIMIT:
            raise InvalidRequest("limit", f"must be a whole number from 1 to {MAX_LIST_LIMIT}")
        limit = int(raw)
    status = query.get("status")
    if status is not None and status not in EXECUTION_STATUSES:
        raise InvalidRequest("status", f"must be one of {', '.join(EXECUTION_STATUSES)}")
    return limit, status


# ----------------------------------------------------------------------- DELETE /sessions/{id}


@dataclass(frozen=True)
class Ending:
    """What DELETE /sessions/{id} answers (202: teardown runs in the workflow)."""

    session_id: str
    how: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "sessionId": self.session_id,
            "status": "RUNNING",
            "phase": "ending",
            "message": self.how,
        }


def end_session(
    session_id: str, caller: Caller, *, settings: Settings, sfn: Any, lambda_client: Any
) -> Ending:
    """End a session early: EndSession answers its hold, or, during setup, stop it."""
    described = describe_execution(sfn, settings, session_id)
    authorize(caller, described, settings)
    if described["status"] != "RUNNING":
        raise _already_ended(session_id, described)
    answer = lambda_client.invoke(
        FunctionName=settings.end_session_function_name,
        InvocationType="RequestResponse",
        Payload=json.dumps({"sessionId": session_id, "reason": END_REASON}),
    )
    payload = json.loads(answer["Payload"].read() or b"null")
    if not answer.get("FunctionError"):
        return Ending(session_id, "the session is ending: its bastion and doors are being removed")
    error_type = payload.get("errorType") if isinstance(payload, dict) else None
    if error_type != "SessionNotHeld":
        message = payload.get("errorMessage") if isinstance(payload, dict) else payload
        raise ApiError(HTTPStatus.BAD_GATEWAY, f"EndSession failed: {error_type}: {message}")
    # Nothing holds the session: it is still being set up, or already tearing down.
    described = sfn.describe_execution(executionArn=described["executionArn"])
    if described["status"] != "RUNNING":
        raise _already_ended(session_id, described)
    events = history(sfn, str(described["executionArn"]))
    if phase_of("RUNNING", steps_of(events), ready_document(events)) == "ending":
        return Ending(session_id, "the session is already ending")
    try:
        sfn.stop_execution(
            executionArn=described["executionArn"],
            error=ABORTED_BY_USER,
            cause=f"{END_REASON}: {caller.user_arn} ended the session before it was ready",
        )
    except ClientError as error:
        logger.warning("stopping the execution failed", extra={"code": error_code(error)})
        described = sfn.describe_execution(executionArn=described["executionArn"])
        if described["status"] != "RUNNING":
            raise _already_ended(session_id, described) from None
        raise
    logger.info("stopped the session's execution during setup")
    return Ending(
        session_id,
        "the session was still starting: its execution is stopped, and teardown removes "
        "whatever it had created",
    )


def _already_ended(session_id: str, described: Mapping[str, Any]) -> ApiError:
    return ApiError(
        HTTPStatus.CONFLICT,
        f"session {session_id!r} has already ended ({described['status']})",
    )


# ----------------------------------------------------------------------- routes


def _caller() -> Caller:
    caller = caller_from_event(app.current_event.raw_event)
    logger.append_keys(caller=caller.user_arn, sourceIp=caller.source_ip)
    return caller


def _session_id(raw: str) -> str:
    session_id = check_session_id(raw)
    logger.set_correlation_id(session_id)
    return session_id


def _json(status: HTTPStatus, body: Any, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(
        status_code=status.value,
        content_type=content_types.APPLICATION_JSON,
        body=body,
        headers=headers,
    )


@app.post("/sessions")
def post_session() -> Response[Any]:
    caller = _caller()
    event = app.current_event
    body = parse_body(event.body, bool(event.is_base64_encoded))
    settings = load_settings()
    request = check_start_request(body, caller, settings=settings, eks=client("eks"))
    logger.set_correlation_id(request.session_id)
    started = start_session(request, settings=settings, sfn=client("stepfunctions"))
    logger.info(
        "started a session",
        extra={"cluster": request.cluster, "allowedCidrs": list(request.allowed_cidrs)},
    )
    location = {"Location": f"/sessions/{started.session_id}"}
    return _json(HTTPStatus.CREATED, started.to_dict(), location)


@app.get("/sessions")
def get_sessions() -> Response[Any]:
    caller = _caller()
    limit, status = list_parameters(app.current_event.query_string_parameters)
    listed = list_sessions(
        caller, settings=load_settings(), sfn=client("stepfunctions"), limit=limit, status=status
    )
    return _json(HTTPStatus.OK, listed.to_dict())


@app.get("/sessions/<session_id>")
def get_one_session(session_id: str) -> Response[Any]:
    caller = _caller()
    view = get_session(
        _session_id(session_id), caller, settings=load_settings(), sfn=client("stepfunctions")
    )
    return _json(HTTPStatus.OK, view.to_dict())


@app.delete("/sessions/<session_id>")
def delete_session(session_id: str) -> Response[Any]:
    caller = _caller()
    ending = end_session(
        _session_id(session_id),
        caller,
        settings=load_settings(),
        sfn=client("stepfunctions"),
        lambda_client=client("lambda"),
    )
    logger.info("ending the session at the user's request", extra={"how": ending.how})
    return _json(HTTPStatus.ACCEPTED, ending.to_dict())


# ----------------------------------------------------------------------- errors


def _error(status: HTTPStatus, message: str, field: str | None = None) -> Response[Any]:
    return _json(status, {"message": message, "field": field})


@app.exception_handler(ApiError)
def _api_error(error: ApiError) -> Response[Any]:
    logger.info("refused", extra={"status": error.status.value, "field": error.field})
    return _error(error.status, error.message, error.field)


@app.exception_handler(InvalidRequest)
def _invalid_request(error: InvalidRequest) -> Response[Any]:
    logger.info("refused an invalid request", extra={"field": error.field})
    return _error(HTTPStatus.BAD_REQUEST, str(error), error.field)


@app.exception_handler(ClientError)
def _aws_error(error: ClientError) -> Response[Any]:
    code = error_code(error)
    logger.warning("an AWS call failed", extra={"code": code})
    if code in THROTTLING_CODES:
        return _error(HTTPStatus.SERVICE_UNAVAILABLE, "AWS is throttling the API: retry shortly")
    return _error(HTTPStatus.BAD_GATEWAY, f"an AWS call failed: {code}")


@app.exception_handler(NotFoundError)
def _no_route(_: NotFoundError) -> Response[Any]:
    event = app.current_event
    return _error(HTTPStatus.NOT_FOUND, f"no route {event.http_method} {event.path}")


@app.exception_handler(Exception)
def _unexpected(error: Exception) -> Response[Any]:
    logger.exception("unexpected error")
    request_id = app.lambda_context.aws_request_id if app.lambda_context else "unknown"
    return _error(HTTPStatus.INTERNAL_SERVER_ERROR, f"internal error (request {request_id})")


def _iso(moment: Any) -> str:
    """A timestamp as ISO 8601 UTC with milliseconds."""
    if isinstance(moment, datetime):
        stamp = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return stamp.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return str(moment)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The API's Lambda proxy integration."""
    request_id = (event.get("requestContext") or {}).get("requestId")
    logger.append_keys(apiRequestId=request_id)
    return app.resolve(event, context)

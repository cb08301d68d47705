"""Sessions as the command sees them: one JSON document per session, read from its execution.

The session id is the Step Functions execution name, so everything about a session is
in its execution: the request (input), how far it got (history), where the bastion is
(``BastionReady``'s output) and why it ended (output, or error and cause).
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import unicodedata
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from bastion.cli import keys
from bastion.cli.errors import CliError, ExitCode
from bastion.cli.target import Target
from bastion.follow import error_message, history
from tasks.api_view import ABORTED_BY_USER

#: States of the teardown: once one is entered, the session is ending.
TEARDOWN_STATES = frozenset({"RecordValidationError", "MarkSessionExpired", "StopBastionTask"})
READY_STATE = "BastionReady"
#: Execution errors that mean "refused before anything was created".
REFUSALS = frozenset({"InvalidRequest", "ClusterNotFound", "ClusterNotPrivate"})


def _iso(moment: Any) -> str | None:
    if not isinstance(moment, datetime):
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_session_id(caller: str) -> str:
    """A fresh session id: the caller's name and a random suffix (1-80 of [A-Za-z0-9_-])."""
    name = caller.rsplit("/", 1)[-1]
    cleaned = "".join(c if c.isalnum() or c in "-_" else "-" for c in name).strip("-")[:40]
    return f"{cleaned or 'session'}-{secrets.token_hex(4)}"


def execution_arn(target: Target, session_id: str) -> str:
    """The execution ARN of ``session_id`` (an execution of the session state machine)."""
    machine = target.require_state_machine()
    prefix, _, name = machine.partition(":stateMachine:")
    return f"{prefix}:execution:{name}:{session_id}"


def describe(target: Target, session_id: str) -> dict[str, Any]:
    """The session document of ``session_id`` (CliError NOT_FOUND when there is none)."""
    sfn = target.client("stepfunctions")
    arn = execution_arn(target, session_id)
    try:
        description = sfn.describe_execution(executionArn=arn)
    except ClientError as error:
        if error.response["Error"].get("Code") in ("ExecutionDoesNotExist", "InvalidArn"):
            raise CliError(f"no session {session_id!r}", ExitCode.NOT_FOUND) from None
        raise
    return document(target, description, history(sfn, arn))


def document(
    target: Target, description: dict[str, Any], events: list[dict[str, Any]]
) -> dict[str, Any]:
    """The session document of an execution, from its description and history.

    Anyone who may start executions can give one any input, so nothing in it is trusted:
    a value of the wrong type is left out, a long one is cut, and an execution whose input
    is not a session request is described with ``unreadable`` saying why.
    """
    raw_request = _json(description.get("input"))
    request = _object(raw_request)
    session_id = str(description["name"])
    # Only a session id ever becomes a path (AWS allows execution names such as "..").
    named = keys.is_session_id(session_id)
    ready: dict[str, Any] = {}
    state: dict[str, Any] = {}
    entered: set[str] = set()
    for event in events:
        if "stateEnteredEventDetails" in event:
            entered.add(str(event["stateEnteredEventDetails"].get("name")))
        details = event.get("stateExitedEventDetails") or {}
        if details.get("name") == READY_STATE:
            state = _object(_json(details.get("output")))
            ready = _object(state.get("ready"))
    status_name = str(description["status"])
    output = _object(_json(description.get("output")))
    error = None
    end_reason = None
    if status_name == "RUNNING":
        if entered & TEARDOWN_STATES:
            status = "ENDING"
        elif ready:
            status = "READY"
        else:
            status = "STARTING"
    elif status_name == "SUCCEEDED":
        status = "ENDED"
        end_reason = _text(_object(output.get("end")).get("reason"))
    elif status_name == "ABORTED":
        status, end_reason = "ENDED", "aborted"
    else:
        status = "FAILED"
        error = {
            "code": _text(description.get("error")) or status_name,
            "message": _text(
                error_message(str(description.get("cause") or status_name.lower())),
                MAX_MESSAGE_CHARS,
            )
            or status_name.lower(),
        }
    bastion = _object(state.get("bastion"))
    session = _object(state.get("session"))
    address = _text(ready.get("address"))
    port = 22
    user = _text(bastion.get("sshUser")) or "bastion"
    key_file = (
        keys.private_key_for(target.sessions_dir, session_id, str(description["executionArn"]))
        if named
        else None
    )
    if target.local_dir is not None and status == "READY" and named:
        from bastion.local.task_runner import read_record

        record = read_record(target.local_dir, session_id)
        if record is not None:
            address, port, user = record.address, record.port, record.user
    doc: dict[str, Any] = {
        "sessionId": session_id if named else _text(repr(session_id)),
        "status": status,
        "cluster": _text(ready.get("cluster")) or _text(request.get("cluster")),
        "requestedBy": _text(session.get("requestedBy")) or _text(request.get("requestedBy")),
        "executionArn": description["executionArn"],
        "executionStatus": status_name,
        "startedAt": _iso(description.get("startDate")),
        "expiresAt": _timestamp(ready.get("expiresAt")) or _timestamp(session.get("expiresAt")),
        "endedAt": _iso(description.get("stopDate")),
        "address": address if status in ("READY", "ENDING") else None,
        "port": port,
        "user": user,
        "keyFile": str(key_file) if key_file else None,
        "sshCommand": None,
        "endReason": end_reason,
        "error": error,
        "local": target.is_local,
        "unreadable": _unreadable(raw_request)
        if named
        else "its execution's name is not a session id",
    }
    if status == "READY" and address and named:
        doc["sshCommand"] = " ".join(ssh_argv(target, doc))
    return doc


#: How much of a value read from an execution a document shows.
MAX_VALUE_CHARS = 256
MAX_MESSAGE_CHARS = 2000
_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")


def _unreadable(request: Any) -> str | None:
    """Why an execution's input is not a session request, or None when it is one."""
    if not isinstance(request, dict):
        return "its input is not a session request (a JSON object)"
    for field in ("cluster", "requestedBy"):
        value = request.get(field)
        if not isinstance(value, str) or not value:
            return f"its input has no {field} (a string)"
        if len(value) > MAX_VALUE_CHARS:
            return f"its input's {field} is too long ({len(value)} characters)"
    return None


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any, limit: int = MAX_VALUE_CHARS) -> str | None:
    """``value`` if it is a non-empty string, cut to ``limit`` characters and made
    printable (see :func:`printable`); else None."""
    if not isinstance(value, str) or not value:
        return None
    shown = value if len(value) <= limit else f"{value[:limit]}... ({len(value)} characters)"
    return printable(shown)


def printable(text: str) -> str:
    """``text`` with its control and format characters (escape sequences, bidirectional
    overrides, newlines) written as escapes such as ``\\x1b``: a value read from an
    execution is shown to other users' terminals, and must not drive them."""
    return "".join(
        char.encode("unicode_escape").decode("ascii")
        if unicodedata.category(char) in ("Cc", "Cf")
        else char
        for char in text
    )


def _timestamp(value: Any) -> str | None:
    return value if isinstance(value, str) and _TIMESTAMP.fullmatch(value) else None


def ssh_argv(target: Target, doc: dict[str, Any], command: list[str] | None = None) -> list[str]:
    """OpenSSH's command line for the session's bastion.

    Host keys: the bastion's host key is generated when it starts, so no known_hosts
    entry can exist beforehand. ``StrictHostKeyChecking=accept-new`` with a known_hosts
    file of the session's own records the key on first contact and refuses a different
    one afterwards (another host on a reused address, a man in the middle later on);
    ``UserKnownHostsFile=/dev/null`` with ``no`` would accept any key every time. Your
    own ``~/.ssh/known_hosts`` is never touched.
    """
    session_id = str(doc["sessionId"])
    argv = ["ssh"]
    key_file = doc.get("keyFile")
    if key_file:
        argv += ["-i", str(key_file), "-o", "IdentitiesOnly=yes"]
    known_hosts = keys.session_dir(target.sessions_dir, session_id) / "known_hosts"
    argv += [
        "-o",
        f"UserKnownHostsFile={known_hosts}",
        "-o",
        "StrictHostKeyChecking=accept-new",
        "-o",
        f"HostKeyAlias=fargate-bastion-{session_id}",
    ]
    if int(doc.get("port") or 22) != 22:
        argv += ["-p", str(doc["port"])]
    argv.append(f"{doc['user']}@{doc['address']}")
    return argv + (command or [])


def _json(text: Any) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def list_sessions(
    target: Target, *, requested_by: str | None, limit: int = 20, running_only: bool = False
) -> list[dict[str, Any]]:
    """Sessions, newest first: the RUNNING ones (of ``requested_by`` unless it is None),
    and, unless ``running_only``, those this machine has a folder for.

    The cost is in proportion to the running sessions (which the stack's caps bound) and
    this machine's own, never to every execution ever run: anyone who may start
    executions can start thousands, and AWS lists them for 90 days. An ended session
    elsewhere is looked at by its id (``bastion status ID``). Executions of any input or
    name are described: see :func:`document`.
    """
    sfn = target.client("stepfunctions")
    machine = target.require_state_machine()
    found: dict[str, dict[str, Any]] = {}
    for page in sfn.get_paginator("list_executions").paginate(
        stateMachineArn=machine, statusFilter="RUNNING"
    ):
        for item in page["executions"]:
            description = sfn.describe_execution(executionArn=item["executionArn"])
            request = _object(_json(description.get("input")))
            if requested_by is None or request.get("requestedBy") == requested_by:
                found[str(description["executionArn"])] = description
    if not running_only:
        for session_id in keys.local_session_ids(target.sessions_dir):
            arn = execution_arn(target, session_id)
            if arn in found or keys.owner(target.sessions_dir, session_id) != arn:
                continue  # listed already, or another stack's session of that name
            with contextlib.suppress(ClientError):
                found[arn] = sfn.describe_execution(executionArn=arn)
    ordered = sorted(found.values(), key=lambda d: d["startDate"], reverse=True)
    return [document(target, d, history(sfn, d["executionArn"])) for d in ordered[:limit]]


def default_session(target: Target, requested_by: str, *, running_only: bool) -> str:
    """The id of the caller's most recent session (running ones first)."""
    recent = list_sessions(target, requested_by=requested_by, limit=1, running_only=running_only)
    if recent:
        return str(recent[0]["sessionId"])
    raise CliError(
        "no running session of yours: start one with `bastion up`"
        if running_only
        else "you have no running session, and this machine knows no other: "
        "start one with `bastion up`, or name one (`bastion status ID`)",
        ExitCode.NOT_FOUND,
    )


def refuse_if_taken(target: Target, session_id: str) -> None:
    """CliError REFUSED when an execution named ``session_id`` exists (running or not)."""
    try:
        target.client("stepfunctions").describe_execution(
            executionArn=execution_arn(target, session_id)
        )
    except ClientError as error:
        if error.response["Error"].get("Code") in ("ExecutionDoesNotExist", "InvalidArn"):
            return
        raise
    raise CliError(
        f"sessionId: session {session_id!r} already exists: choose another --session-id",
        ExitCode.REFUSED,
        field="sessionId",
    )


def start_via_sfn(target: Target, session_id: str, request: dict[str, Any]) -> str:
    """Start the session's execution; its ARN."""
    sfn = target.client("stepfunctions")
    try:
        return str(
            sfn.start_execution(
                stateMachineArn=target.require_state_machine(),
                name=session_id,
                input=json.dumps(request),
            )["executionArn"]
        )
    except ClientError as error:
        if error.response["Error"].get("Code") == "ExecutionAlreadyExists":
            raise CliError(
                f"sessionId: session {session_id!r} already exists: choose another --session-id",
                ExitCode.REFUSED,
                field="sessionId",
            ) from None
        raise CliError(
            f"cannot start the session: {error.response['Error'].get('Message', error)}",
            ExitCode.CONFIGURATION,
        ) from None


def end_via_function(target: Target, session_id: str, reason: str = "ended-by-user") -> bool:
    """Invoke EndSession; whether the session was holding (False: it was not)."""
    if not target.end_session_function:
        raise CliError(
            "no EndSession function: pass --end-session-function or --stack",
            ExitCode.CONFIGURATION,
        )
    answer = target.client("lambda").invoke(
        FunctionName=target.end_session_function,
        Payload=json.dumps({"sessionId": session_id, "reason": reason}).encode(),
    )
    payload = _json(answer["Payload"].read()) or {}
    if answer.get("FunctionError"):
        if payload.get("errorType") == "SessionNotHeld":
            return False
        raise CliError(
            f"EndSession failed: {payload.get('errorType')}: {payload.get('errorMessage')}"
        )
    return True


def stop_unheld(target: Target, session_id: str, caller: str) -> bool:
    """Stop the execution of a session that nothing holds, unless it is ending already.

    Its teardown then runs as for any stopped session execution (the teardown machine
    runs for it); whether this stopped it.
    """
    doc = describe(target, session_id)
    if doc["status"] != "STARTING" and doc["status"] != "READY":
        return False
    try:
        target.client("stepfunctions").stop_execution(
            executionArn=doc["executionArn"],
            error=ABORTED_BY_USER,
            cause=f"ended-by-user: {caller} ended the session while nothing held it",
        )
    except ClientError as error:
        if error.response["Error"].get("Code") == "ExecutionDoesNotExist":
            return False
        raise
    return True


def refusal(description: dict[str, Any]) -> CliError:
    """The CliError for an execution that failed (REFUSED when the request was refused)."""
    code = printable(str(description.get("error") or description["status"]))
    message = printable(error_message(str(description.get("cause") or "")))
    if code in REFUSALS:
        field = message.split(":", 1)[0] if ":" in message else None
        return CliError(message or code, ExitCode.REFUSED, field=field)
    return CliError(
        f"the session failed: {code}: {message}" if message else f"the session failed: {code}",
        ExitCode.SESSION_FAILED,
    )

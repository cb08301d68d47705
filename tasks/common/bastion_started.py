"""The bastion's ``started`` line: its word that sshd accepts connections, and with which keys.

The bastion has no AWS identity; its log stream is its one channel out. Once sshd
listens, the entry point writes one JSON ``started`` line there (container/README.md,
"Events"), with the host keys sshd presents (``hostPublicKeys``). Whoever learns from
that line that a session is ready (the ready check reading the stream, or a
subscription filter with :data:`STARTED_FILTER_PATTERN`) reads it here:

* :func:`is_started_line`: the line is a JSON object whose ``event`` is ``started``
  (what the filter pattern passes); any other line of the stream is not the word;
* :func:`parse_started_line`: the line, checked, as a :class:`BastionStarted`. It must
  come from the stream the awslogs driver writes for the task's container (the task id
  in the stream's name is ECS's, not the line's), name the task's own session, and
  carry only plain host keys with their own fingerprints (``tasks/common/host_keys.py``);
* :func:`read_bastion_started`: the first started line of a task's stream, with
  CloudWatch Logs' GetLogEvents.

Anything wrong raises :class:`BastionStartedInvalid`: a bastion whose word cannot be
trusted is never reported ready. Only the first started line of a stream counts: a
shell user could write another one, but only after logging in, so after the first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from tasks.common.errors import BastionStartedInvalid
from tasks.common.host_keys import HostKey, HostKeyError, parse_host_keys
from tasks.common.log_subscription import (
    LogSubscriptionError,
    log_stream_name,
    task_id_of_log_stream,
)
from tasks.common.observability import error_code

STARTED_EVENT = "started"
#: The CloudWatch Logs filter pattern that passes the started line and nothing else.
STARTED_FILTER_PATTERN = '{ $.event = "started" }'
#: template.yaml's ``awslogs-stream-prefix`` of the bastion container.
BASTION_LOG_STREAM_PREFIX = "bastion"
#: The entry point's line is about 1.5 KiB with its two host keys; eight RSA keys fit.
MAX_STARTED_LINE_CHARS = 16 * 1024
#: The started line follows sshd's own "Server listening" lines at once: a stream whose
#: first lines hold no started line is not a bastion that started.
HEAD_EVENTS = 200
#: GetLogEvents may answer an empty page, and a token, while the stream has events: the
#: reader follows that token this many times at most.
MAX_EMPTY_PAGES = 3


@dataclass(frozen=True)
class BastionStarted:
    """What a bastion's started line reports, checked."""

    task_id: str
    session_id: str
    #: The port sshd listens on, in the container.
    port: int
    host_keys: tuple[HostKey, ...]
    #: When CloudWatch Logs timestamped the line (ms since the epoch).
    logged_at: int

    def host_public_keys(self) -> list[dict[str, str]]:
        """The host keys as the line reported them: ``type``, ``key``, ``fingerprint``."""
        return [key.as_event_entry() for key in self.host_keys]


def bastion_log_stream(container: str, task_id: str) -> str:
    """The stream the awslogs driver writes the task's bastion container to."""
    return log_stream_name(BASTION_LOG_STREAM_PREFIX, container, task_id)


def _json_object(message: str) -> dict[str, Any] | None:
    try:
        value = json.loads(message)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def is_started_line(message: str) -> bool:
    """Whether ``message`` is a JSON object whose ``event`` is ``started``."""
    if f'"{STARTED_EVENT}"' not in message:
        return False
    event = _json_object(message)
    return event is not None and event.get("event") == STARTED_EVENT


def parse_started_line(
    message: str,
    *,
    log_stream: str,
    container: str,
    task_id: str,
    session_id: str,
    logged_at: int,
) -> BastionStarted:
    """The started line ``message`` of ``log_stream``, checked as the line of task
    ``task_id``'s ``container`` in session ``session_id`` (BastionStartedInvalid if not)."""
    try:
        writer = task_id_of_log_stream(log_stream, BASTION_LOG_STREAM_PREFIX, container)
    except LogSubscriptionError:
        writer = None
    if writer != task_id:
        raise BastionStartedInvalid(
            f"log stream {log_stream[:200]!r} is not the stream of task {task_id}"
        )
    if len(message) > MAX_STARTED_LINE_CHARS:
        raise BastionStartedInvalid(
            f"the bastion's started line is longer than {MAX_STARTED_LINE_CHARS} characters"
        )
    event = _json_object(message)
    if event is None:
        raise BastionStartedInvalid("the bastion's started line is not a JSON object")
    if event.get("event") != STARTED_EVENT:
        raise BastionStartedInvalid("the line is not the bastion's started event")
    named = event.get("sessionId")
    if named != session_id:
        shown = named[:100] if isinstance(named, str) else named
        raise BastionStartedInvalid(
            f"the bastion's started line names session {shown!r}, not {session_id!r}"
        )
    port = event.get("port")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise BastionStartedInvalid("the bastion's started line has no port from 1 to 65535")
    try:
        keys = parse_host_keys(event.get("hostPublicKeys"))
    except HostKeyError as error:
        raise BastionStartedInvalid(f"the bastion's started line: {error}") from None
    return BastionStarted(task_id, session_id, port, keys, logged_at)


def read_bastion_started(
    logs: Any, *, log_group: str, container: str, task_arn: str, session_id: str
) -> BastionStarted | None:
    """The first started line of the task's stream, checked; None while there is none yet
    (BastionStartedInvalid if it cannot be trusted, or the stream's first
    :data:`HEAD_EVENTS` lines hold none)."""
    task_id = task_arn.rsplit("/", 1)[-1]
    stream = bastion_log_stream(container, task_id)
    try:
        events = _head_of_stream(logs, log_group, stream)
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return None  # the driver has not made the stream yet
        raise
    for event in events:
        message = str(event.get("message", ""))
        if is_started_line(message):
            return parse_started_line(
                message,
                log_stream=stream,
                container=container,
                task_id=task_id,
                session_id=session_id,
                logged_at=int(event.get("timestamp", 0)),
            )
    if len(events) >= HEAD_EVENTS:
        raise BastionStartedInvalid(
            f"the first {HEAD_EVENTS} lines of {stream} hold no started line"
        )
    return None


def _head_of_stream(logs: Any, log_group: str, stream: str) -> list[dict[str, Any]]:
    """The stream's first :data:`HEAD_EVENTS` events (fewer when it has fewer), following
    the token of an empty page, which GetLogEvents may answer while events remain."""
    request: dict[str, Any] = {
        "logGroupName": log_group,
        "logStreamName": stream,
        "startFromHead": True,
        "limit": HEAD_EVENTS,
    }
    for _ in range(MAX_EMPTY_PAGES + 1):
        answer = logs.get_log_events(**request)
        events: list[dict[str, Any]] = answer.get("events", [])
        token = answer.get("nextForwardToken")
        if events or not token or token == request.get("nextToken"):
            return events
        request["nextToken"] = token
    return []

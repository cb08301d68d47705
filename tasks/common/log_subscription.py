"""What a Lambda function receives from a CloudWatch Logs subscription filter, and the
bastion task a log stream belongs to.

CloudWatch Logs invokes the function (asynchronously) with ``{"awslogs": {"data": ...}}``,
the data being base64 of gzip of a JSON document::

    {"messageType": "DATA_MESSAGE", "owner": "123456789012",
     "logGroup": "/ecs/<stack>/bastion", "logStream": "bastion/bastion/<task id>",
     "subscriptionFilters": ["<filter name>"],
     "logEvents": [{"id": "3719...", "timestamp": 1767225600000, "message": "{...}"}]}

(``messageType`` is ``CONTROL_MESSAGE`` for the reachability checks CloudWatch Logs may
send; they carry no events worth reading.) :func:`decode_subscription_event` checks
that shape and returns it typed; :func:`encode_subscription_event` is its inverse (the
local AWS and the tests send what AWS sends).

The awslogs driver names a task's stream ``<prefix>/<container name>/<task id>``:
:func:`task_id_of_log_stream` reads the task id back, refusing any other shape. That
stream is written by the driver alone, from the container's output: the task it names
is the one that wrote the line, whatever the line itself says.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tasks.common.ecs_ids import TASK_ID_SHAPE

DATA_MESSAGE = "DATA_MESSAGE"
CONTROL_MESSAGE = "CONTROL_MESSAGE"
#: A delivery is at most 256 KiB of events; far less compressed. More is not CloudWatch's.
MAX_DECOMPRESSED_BYTES = 2 * 1024 * 1024


class LogSubscriptionError(ValueError):
    """The event is not a CloudWatch Logs subscription delivery; the message says why."""


@dataclass(frozen=True)
class LogEvent:
    """One log event: CloudWatch's id, its timestamp (ms since the epoch) and the line."""

    id: str
    timestamp: int
    message: str


@dataclass(frozen=True)
class LogSubscriptionMessage:
    """One delivery of a subscription filter to its destination."""

    message_type: str
    owner: str
    log_group: str
    log_stream: str
    subscription_filters: tuple[str, ...]
    log_events: tuple[LogEvent, ...]

    def as_data(self) -> dict[str, Any]:
        """The JSON document CloudWatch Logs sends (before gzip and base64)."""
        return {
            "messageType": self.message_type,
            "owner": self.owner,
            "logGroup": self.log_group,
            "logStream": self.log_stream,
            "subscriptionFilters": list(self.subscription_filters),
            "logEvents": [
                {"id": event.id, "timestamp": event.timestamp, "message": event.message}
                for event in self.log_events
            ],
        }


def encode_subscription_event(message: LogSubscriptionMessage) -> dict[str, Any]:
    """The Lambda event CloudWatch Logs sends for ``message``."""
    data = json.dumps(message.as_data(), separators=(",", ":")).encode("utf-8")
    return {"awslogs": {"data": base64.b64encode(gzip.compress(data)).decode("ascii")}}


def _text(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str):
        raise LogSubscriptionError(f"{name} is not a string")
    return value


def _log_event(item: object) -> LogEvent:
    if not isinstance(item, Mapping):
        raise LogSubscriptionError("a log event is not an object")
    timestamp = item.get("timestamp")
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise LogSubscriptionError("a log event's timestamp is not a whole number")
    return LogEvent(_text(item, "id"), timestamp, _text(item, "message"))


def decode_subscription_event(event: Mapping[str, Any]) -> LogSubscriptionMessage:
    """The delivery in a Lambda event from a subscription filter (LogSubscriptionError if not)."""
    awslogs = event.get("awslogs")
    if not isinstance(awslogs, Mapping) or not isinstance(awslogs.get("data"), str):
        raise LogSubscriptionError("no awslogs.data in the event")
    try:
        compressed = base64.b64decode(awslogs["data"], validate=True)
        with gzip.GzipFile(fileobj=io.BytesIO(compressed)) as unzipped:
            raw = unzipped.read(MAX_DECOMPRESSED_BYTES + 1)
        data = json.loads(raw) if len(raw) <= MAX_DECOMPRESSED_BYTES else None
    except (binascii.Error, OSError, EOFError, ValueError, RecursionError) as error:
        raise LogSubscriptionError(f"awslogs.data is not base64 of gzipped JSON: {error}") from None
    if not isinstance(data, Mapping):
        raise LogSubscriptionError("awslogs.data is not a JSON object of at most 2 MiB")
    filters = data.get("subscriptionFilters")
    events = data.get("logEvents")
    if not isinstance(filters, list) or not all(isinstance(name, str) for name in filters):
        raise LogSubscriptionError("subscriptionFilters is not a list of names")
    if not isinstance(events, list):
        raise LogSubscriptionError("logEvents is not a list")
    message_type = _text(data, "messageType")
    if message_type not in (DATA_MESSAGE, CONTROL_MESSAGE):
        raise LogSubscriptionError(f"messageType {message_type!r} is not CloudWatch Logs'")
    return LogSubscriptionMessage(
        message_type=message_type,
        owner=_text(data, "owner"),
        log_group=_text(data, "logGroup"),
        log_stream=_text(data, "logStream"),
        subscription_filters=tuple(filters),
        log_events=tuple(_log_event(item) for item in events),
    )


def log_stream_name(prefix: str, container: str, task_id: str) -> str:
    """The awslogs driver's stream for a task's container on Fargate."""
    return f"{prefix}/{container}/{task_id}"


def task_id_of_log_stream(stream: str, prefix: str, container: str) -> str:
    """The id of the task whose container writes ``stream`` (LogSubscriptionError if the
    stream is not ``<prefix>/<container>/<task id>``)."""
    head = f"{prefix}/{container}/"
    task_id = stream[len(head) :] if stream.startswith(head) else ""
    if not TASK_ID_SHAPE.fullmatch(task_id):
        raise LogSubscriptionError(
            f"log stream {stream!r} is not {head}<task id>: not a bastion task's stream"
        )
    return task_id

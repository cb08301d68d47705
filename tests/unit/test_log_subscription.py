"""The CloudWatch Logs subscription payload a function receives, and the task a stream names."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import pytest

from tasks.common.log_subscription import (
    LogEvent,
    LogSubscriptionError,
    LogSubscriptionMessage,
    decode_subscription_event,
    encode_subscription_event,
    log_stream_name,
    task_id_of_log_stream,
)

pytestmark = pytest.mark.unit

TASK_ID = "0123456789abcdef0123456789abcdef"
MESSAGE = LogSubscriptionMessage(
    message_type="DATA_MESSAGE",
    owner="123456789012",
    log_group="/ecs/fargate-bastion/bastion",
    log_stream=f"bastion/bastion/{TASK_ID}",
    subscription_filters=("bastion-started",),
    log_events=(LogEvent("3719" * 14, 1767225600000, '{"event":"started"}'),),
)


def _event(data: Any) -> dict[str, Any]:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return {"awslogs": {"data": base64.b64encode(gzip.compress(raw)).decode()}}


def test_a_delivery_decodes_to_what_was_sent() -> None:
    event = encode_subscription_event(MESSAGE)
    assert decode_subscription_event(event) == MESSAGE
    # the wire form is CloudWatch Logs': base64 of gzip of the JSON document
    data = json.loads(gzip.decompress(base64.b64decode(event["awslogs"]["data"])))
    assert data == {
        "messageType": "DATA_MESSAGE",
        "owner": "123456789012",
        "logGroup": "/ecs/fargate-bastion/bastion",
        "logStream": f"bastion/bastion/{TASK_ID}",
        "subscriptionFilters": ["bastion-started"],
        "logEvents": [
            {"id": "3719" * 14, "timestamp": 1767225600000, "message": '{"event":"started"}'}
        ],
    }


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"awslogs": "x"},
        {"awslogs": {"data": 42}},
        {"awslogs": {"data": "not base64!"}},
        {"awslogs": {"data": base64.b64encode(b"not gzip").decode()}},
        _event(b"not json"),
        _event([1, 2]),
        _event(MESSAGE.as_data() | {"messageType": "SOMETHING"}),
        _event(MESSAGE.as_data() | {"logEvents": "x"}),
        _event(MESSAGE.as_data() | {"logEvents": [{"id": "1", "timestamp": "x", "message": "m"}]}),
        _event(MESSAGE.as_data() | {"logEvents": [{"id": 1, "timestamp": 1, "message": "m"}]}),
        _event(MESSAGE.as_data() | {"subscriptionFilters": "bastion-started"}),
        _event(MESSAGE.as_data() | {"logStream": None}),
        _event(b" " * (3 * 1024 * 1024)),
        _event(b"[" * (1024 * 1024)),  # nested deeper than the JSON parser recurses
    ],
)
def test_anything_else_is_refused(event: dict[str, Any]) -> None:
    with pytest.raises(LogSubscriptionError):
        decode_subscription_event(event)


def test_a_streams_task_id_is_read_back_only_from_the_drivers_name() -> None:
    assert (
        task_id_of_log_stream(log_stream_name("bastion", "bastion", TASK_ID), "bastion", "bastion")
        == TASK_ID
    )
    moto_id = "8b2c3d4e-1f2a-4b3c-9d8e-7f6a5b4c3d2e"
    assert task_id_of_log_stream(f"bastion/bastion/{moto_id}", "bastion", "bastion") == moto_id
    for hostile in (
        f"other/bastion/{TASK_ID}",
        f"bastion/other/{TASK_ID}",
        f"bastion/bastion/{TASK_ID}/extra",
        "bastion/bastion/",
        f"bastion/bastion/{TASK_ID.upper()}",
        f"bastion/bastion/../{TASK_ID}",
        TASK_ID,
    ):
        with pytest.raises(LogSubscriptionError):
            task_id_of_log_stream(hostile, "bastion", "bastion")

"""An execution's input read by the API's view and the caps: anything but an object is {}."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tasks.api_view import execution_request
from tasks.common.session_caps import describe_running

NESTED_TOO_DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("text", [NESTED_TOO_DEEP, "not json", "[1, 2]", '"text"', ""])
def test_an_input_that_is_not_an_object_reads_as_empty(text: str) -> None:
    assert execution_request({"input": text}) == {}


class _Sfn:
    def __init__(self, text: str) -> None:
        self.text = text

    def describe_execution(self, executionArn: str) -> dict[str, Any]:  # noqa: N803
        return {"executionArn": executionArn, "input": self.text}


@pytest.mark.parametrize("text", [NESTED_TOO_DEEP, "not json", "[1, 2]"])
def test_a_running_execution_with_such_an_input_has_no_requester_or_cluster(text: str) -> None:
    execution = {"executionArn": "arn:x", "name": "s-1", "startDate": datetime.now(UTC)}
    running = describe_running(_Sfn(text), execution)
    assert (running.session_id, running.requested_by) == ("s-1", None)

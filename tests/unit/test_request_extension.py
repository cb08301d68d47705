"""RequestExtension: signal the hold with the extension request, or say nothing holds."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tasks.common.end_request import EndRequest, record_end_request
from tasks.common.errors import InvalidRequest, SessionNotHeld
from tasks.common.extensions import EXTENSION_REQUESTED
from tasks.common.settings import Settings
from tasks.request_extension import RequestExtensionInput, request_extension
from tests.unit.support import PARAMETER_PREFIX, client

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 27, 10, 50, tzinfo=UTC)
NAME = f"{PARAMETER_PREFIX}/s-0001"
ALICE = "arn:aws:iam::123456789012:user/alice"


class RecordingStepFunctions:
    """Records SendTaskFailure; answers with ``code`` when given one."""

    def __init__(self, code: str | None = None) -> None:
        self.code = code
        self.sent: list[dict[str, Any]] = []

    def send_task_failure(self, **call: Any) -> None:
        if self.code:
            raise ClientError({"Error": {"Code": self.code, "Message": "no"}}, "SendTaskFailure")
        self.sent.append(call)


def store_token() -> None:
    client("ssm").put_parameter(
        Name=NAME,
        Value=json.dumps({"taskToken": "token-1", "expiresAt": "2026-11-27T11:00:00Z"}),
        Type="String",
    )


def ask(sfn: Any, by: Any = 30, requested_by: Any = ALICE, **more: Any) -> dict[str, Any]:
    request = RequestExtensionInput.from_event(
        {"sessionId": "s-0001", "byMinutes": by, "requestedBy": requested_by, **more}
    )
    return request_extension(request, settings=Settings(), ssm=client("ssm"), sfn=sfn, now=NOW)


def test_the_hold_is_signalled_with_the_request(mocked_aws: None) -> None:
    store_token()
    sfn = RecordingStepFunctions()
    answer = ask(sfn)
    assert answer == {
        "sessionId": "s-0001",
        "byMinutes": 30,
        "requestedBy": ALICE,
        "requestedAt": "2026-11-27T10:50:00Z",
    }
    [sent] = sfn.sent
    assert (sent["taskToken"], sent["error"]) == ("token-1", EXTENSION_REQUESTED)
    assert json.loads(sent["cause"])["byMinutes"] == 30


def test_nothing_holding_is_session_not_held(mocked_aws: None) -> None:
    sfn = RecordingStepFunctions()
    with pytest.raises(SessionNotHeld, match="not holding"):
        ask(sfn)
    assert sfn.sent == []


@pytest.mark.parametrize("code", ["TaskTimedOut", "TaskDoesNotExist", "InvalidToken"])
def test_a_token_no_longer_answered_is_session_not_held(mocked_aws: None, code: str) -> None:
    # The hold timed out (an extension racing the expiry), or another request answered it
    store_token()
    with pytest.raises(SessionNotHeld, match="retry"):
        ask(RecordingStepFunctions(code))


def test_a_session_that_is_ending_is_not_extended(mocked_aws: None) -> None:
    store_token()
    record_end_request(client("ssm"), NAME, EndRequest("ended-by-user", "2026-11-27T10:49:00Z"), [])
    sfn = RecordingStepFunctions()
    with pytest.raises(SessionNotHeld, match="ending"):
        ask(sfn)
    assert sfn.sent == []


@pytest.mark.parametrize("by", [0, -1, 481, "30", True, None])
def test_minutes_out_of_range_are_refused_before_anything(mocked_aws: None, by: Any) -> None:
    store_token()
    sfn = RecordingStepFunctions()
    with pytest.raises(InvalidRequest, match="byMinutes"):
        ask(sfn, by=by)
    assert sfn.sent == []


@pytest.mark.parametrize("who", ["", None, 7, "x" * 257])
def test_the_requester_must_be_named(who: Any) -> None:
    with pytest.raises(InvalidRequest, match="requestedBy"):
        RequestExtensionInput.from_event(
            {"sessionId": "s-0001", "byMinutes": 5, "requestedBy": who}
        )


def test_the_session_id_is_checked() -> None:
    with pytest.raises(InvalidRequest, match="sessionId"):
        RequestExtensionInput.from_event({"sessionId": "*", "byMinutes": 5, "requestedBy": ALICE})


def test_a_request_from_the_expiry_the_hold_holds_to_is_sent(mocked_aws: None) -> None:
    store_token()
    sfn = RecordingStepFunctions()
    ask(sfn, expiresAt="2026-11-27T11:00:00Z")
    [sent] = sfn.sent
    assert sent["taskToken"] == "token-1"


def test_a_request_from_an_expiry_another_extension_moved_is_refused_to_retry(
    mocked_aws: None,
) -> None:
    # The API computed its answer from 10:55; the hold holds to 11:00 now
    store_token()
    sfn = RecordingStepFunctions()
    with pytest.raises(SessionNotHeld, match=r"holds to 2026-11-27T11:00:00Z now.*retry"):
        ask(sfn, expiresAt="2026-11-27T10:55:00Z")
    assert sfn.sent == []


@pytest.mark.parametrize("expires_at", ["", "tomorrow", 7, ["2026-11-27T11:00:00Z"]])
def test_an_expiry_extended_from_that_is_no_time_is_refused(expires_at: Any) -> None:
    with pytest.raises(InvalidRequest, match="expiresAt"):
        RequestExtensionInput.from_event(
            {"sessionId": "s-0001", "byMinutes": 5, "requestedBy": ALICE, "expiresAt": expires_at}
        )

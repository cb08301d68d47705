"""ExtendSession: answer the hold's extension request within the session's latest expiry,
never raising for a request, and record who asked, by how much, and what came of it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tasks.common.errors import InvalidRequest
from tasks.common.extensions import (
    EXTENSION_REQUESTED,
    MAX_EXTENSION_REQUESTS,
    ExtensionRequest,
    check_by_minutes,
    extended_expiry,
)
from tasks.common.models import parse_timestamp
from tasks.common.settings import Settings
from tasks.extend_session import ExtendSessionInput, extend_session, handler
from tests.unit.support import LambdaContextStub, load_event

pytestmark = pytest.mark.unit

#: Ten minutes before the session's own expiry (11:00); its latest is 18:00.
NOW = datetime(2026, 11, 27, 10, 50, tzinfo=UTC)
ALICE = "arn:aws:iam::123456789012:user/alice"


def event(cause: Any, *, error: str = EXTENSION_REQUESTED, **ready: Any) -> dict[str, Any]:
    sample = load_event("extend_session")
    sample["extension"] = {"Error": error, "Cause": cause}
    sample["ready"].update(ready)
    return sample


def cause(by: Any, requested_by: Any = ALICE) -> str:
    return json.dumps({"byMinutes": by, "requestedBy": requested_by, "requestedAt": "x"})


def extend(sample: dict[str, Any], now: datetime = NOW) -> dict[str, Any]:
    return extend_session(ExtendSessionInput.from_event(sample), settings=Settings(), now=now)


def test_an_extension_within_the_limit_moves_the_expiry_and_the_hold() -> None:
    ready = extend(event(cause(30)))
    # The new expiry, the seconds from now until it, the count, and the rest kept as it was
    assert ready["expiresAt"] == "2026-11-27T11:30:00Z"
    assert ready["holdSeconds"] == 40 * 60
    assert ready["latestExpiresAt"] == "2026-11-27T18:00:00Z"
    assert ready["extensionRequests"] == 1
    assert ready["sshCommand"] == "ssh bastion@198.51.100.24"
    assert ready["extension"] == {
        "previousExpiresAt": "2026-11-27T11:00:00Z",
        "byMinutes": 30,
        "requestedBy": ALICE,
        "requestedAt": "x",
        "outcome": "extended",
    }


def test_exactly_up_to_the_latest_expiry_is_allowed_and_a_minute_more_refused() -> None:
    assert extend(event(cause(420)))["expiresAt"] == "2026-11-27T18:00:00Z"
    refused = extend(event(cause(421)))
    assert refused["extension"]["outcome"] == "refused"
    assert "MaxDurationMinutes" in refused["extension"]["reason"]
    assert "420 min at most" in refused["extension"]["reason"]
    # Nothing moved: the hold holds to the old expiry, from now
    assert refused["expiresAt"] == "2026-11-27T11:00:00Z"
    assert refused["holdSeconds"] == 10 * 60


@pytest.mark.parametrize(
    "bad_cause",
    [
        cause(0),
        cause(-30),
        cause(10**12),
        cause("30m"),
        cause(True),
        cause(1.5),
        cause(None),
        json.dumps([30]),
        "not json",
        "[" * 100_000,
        "{" * 5000,
        None,
        42,
        "",
    ],
    ids=repr,
)
def test_a_malformed_request_is_refused_and_changes_nothing(bad_cause: Any) -> None:
    ready = extend(event(bad_cause))
    assert ready["extension"]["outcome"] == "refused"
    assert ready["expiresAt"] == "2026-11-27T11:00:00Z"
    assert ready["holdSeconds"] == 10 * 60


def test_another_error_than_an_extension_request_is_refused() -> None:
    ready = extend(event(cause(30), error="States.TaskFailed"))
    assert ready["extension"]["outcome"] == "refused"
    assert ready["expiresAt"] == "2026-11-27T11:00:00Z"


def test_a_request_names_whoever_it_says_and_is_kept_short() -> None:
    ready = extend(event(cause(5, requested_by="x" * 1000)))
    assert ready["extension"]["requestedBy"] == "x" * 256
    # A cause longer than any request is not read at all
    assert extend(event(cause(5, requested_by="x" * 5000)))["extension"]["outcome"] == "refused"
    assert extend(event(cause(5, requested_by=None)))["extension"]["requestedBy"] == "unnamed"


def test_a_request_arriving_after_the_expiry_passed_is_still_a_whole_second_of_hold() -> None:
    # The hold's timeout and the signal raced; the signal won, so the extension applies
    late = datetime(2026, 11, 27, 11, 0, 1, tzinfo=UTC)
    assert extend(event(cause(1)), now=late)["holdSeconds"] == 59
    # A refused one holds for the least Step Functions allows, then the session expires
    assert extend(event(cause(10**6)), now=late)["holdSeconds"] == 1


def test_the_requests_are_counted_and_one_past_the_most_is_refused() -> None:
    assert extend(event(cause(1), extensionRequests=3))["extensionRequests"] == 4
    last = extend(event(cause(1), extensionRequests=MAX_EXTENSION_REQUESTS - 1))
    assert last["extension"]["outcome"] == "extended"
    past = extend(event(cause(1), extensionRequests=MAX_EXTENSION_REQUESTS))
    assert past["extension"]["outcome"] == "refused"
    assert past["extensionRequests"] == MAX_EXTENSION_REQUESTS + 1
    # A count that ExtendSession never wrote counts as the most
    for forged in (-1, "0", True, None):
        assert extend(event(cause(1), extensionRequests=forged))["extension"]["outcome"] == (
            "refused"
        )


def test_the_handler_answers_the_sample_event(context: LambdaContextStub) -> None:
    ready = handler(load_event("extend_session"), context)
    assert ready["extension"]["requestedBy"] == ALICE
    assert ready["holdSeconds"] >= 1


def test_the_limit_names_what_is_left() -> None:
    started = parse_timestamp("2026-11-27T10:00:00Z")
    latest = parse_timestamp("2026-11-27T12:00:00Z")
    current = parse_timestamp("2026-11-27T11:00:00Z")
    assert extended_expiry(current, 60, started_at=started, latest=latest) == latest
    with pytest.raises(InvalidRequest, match=r"allows 120 min .* by 60 min at most"):
        extended_expiry(current, 61, started_at=started, latest=latest)


@pytest.mark.parametrize("value", [0, -1, 481, "5", 5.0, True, None, [5]])
def test_by_minutes_is_a_whole_number_within_the_stack_maximum(value: Any) -> None:
    with pytest.raises(InvalidRequest, match="byMinutes"):
        check_by_minutes(value, 480)


def test_a_request_survives_its_cause() -> None:
    request = ExtensionRequest(30, ALICE, "2026-11-27T10:50:00Z")
    assert ExtensionRequest.from_cause(request.to_cause(), 480) == request

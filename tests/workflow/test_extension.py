"""Extending a holding session on the local AWS: through the API and straight through
Step Functions, up to the stack's maximum lifetime and never past it; the extended session
still expires and is torn down."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest

from bastion.follow import history
from bastion.local.lambda_runtime import invocations_paused
from bastion.local.waits import WAIT_SECONDS
from tasks.common import session_states
from tasks.common.extensions import EXTENSION_REQUESTED
from tasks.common.models import format_timestamp, parse_timestamp
from tests.workflow.harness import REQUESTER, ApiAnswer, Harness, call_api, deployed

pytestmark = pytest.mark.workflow

ACCOUNT = "123456789012"
BOB = f"arn:aws:iam::{ACCOUNT}:user/bob"
ADMIN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/BastionAdmin"
CAROL_AS_ADMIN = f"arn:aws:sts::{ACCOUNT}:assumed-role/BastionAdmin/carol"
#: The stack's maximum lifetime in these tests, and the sessions' own length.
MAX_MINUTES = 120
SESSION_MINUTES = 60
TEARDOWN = ["StopBastionTask", "RevokeControlPlaneIngress", "DeleteSessionSecurityGroup"]


@pytest.fixture
def harness() -> Iterator[Harness]:
    parameters = {"AdminPrincipalArns": ADMIN_ROLE, "MaxDurationMinutes": str(MAX_MINUTES)}
    with deployed(parameters=parameters) as fresh:
        yield fresh


def holding(harness: Harness, minutes: int = SESSION_MINUTES) -> tuple[str, str, dict[str, Any]]:
    """A session of ``minutes`` that holds: (session id, execution ARN, its data)."""
    session_id, arn = harness.start(harness.request(durationMinutes=minutes))
    return session_id, arn, harness.wait_until_holding(arn, session_id)


def extend(harness: Harness, session_id: str, by: Any, caller: str = REQUESTER) -> ApiAnswer:
    path = f"/clusters/{harness.cluster.name}/sessions/{session_id}/extensions"
    return call_api(harness, "POST", path, caller=caller, body={"byMinutes": by})


def status(harness: Harness, session_id: str) -> dict[str, Any]:
    answer = call_api(harness, "GET", f"/clusters/{harness.cluster.name}/sessions/{session_id}")
    assert answer.status == 200, answer
    body: dict[str, Any] = answer.body
    return body


def wait_for_hold(harness: Harness, session_id: str, arn: str, holds: int) -> None:
    """Wait until the hold has stored its token ``holds`` times (each attempt of the hold
    writes the parameter once: its version counts them)."""
    ssm = harness.aws.client("ssm")
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        found = ssm.get_parameters(Names=[harness.parameter_name(session_id)])["Parameters"]
        if found and found[0]["Version"] >= holds:
            return
        description = harness.sfn.describe_execution(executionArn=arn)
        assert description["status"] == "RUNNING", description
        assert time.monotonic() < deadline, f"{arn} never held {holds} times"
        time.sleep(0.05)


def stored_expiry(harness: Harness, session_id: str) -> str:
    value = harness.aws.client("ssm").get_parameter(Name=harness.parameter_name(session_id))
    return str(json.loads(value["Parameter"]["Value"])["expiresAt"])


def extension_outputs(harness: Harness, arn: str) -> list[dict[str, Any]]:
    """What each ExtendSession answered (the ready document's ``extension``)."""
    outputs = []
    for event in history(harness.sfn, arn):
        details = event.get("stateExitedEventDetails", {})
        if details.get("name") == session_states.EXTEND_SESSION:
            outputs.append(json.loads(details["output"])["ready"]["extension"])
    return outputs


def test_an_extended_session_holds_to_its_new_expiry_then_expires_and_is_torn_down(
    harness: Harness,
) -> None:
    # GIVEN a holding session of an hour on a stack whose maximum is two
    session_id, arn, data = holding(harness)
    session = data["session"]
    expires_at = parse_timestamp(data["ready"]["expiresAt"])
    latest = parse_timestamp(session["startedAt"]) + timedelta(minutes=MAX_MINUTES)
    assert session["latestExpiresAt"] == format_timestamp(latest)

    # WHEN its requester extends it by half an hour through the API
    answer = extend(harness, session_id, 30)

    # THEN the API accepts and names the new expiry and the latest one
    assert answer.status == 202, answer
    new_expiry = format_timestamp(expires_at + timedelta(minutes=30))
    assert answer.body["expiresAt"] == new_expiry
    assert answer.body["latestExpiresAt"] == format_timestamp(latest)

    # AND the hold is entered again, holding to the new expiry, which status shows
    wait_for_hold(harness, session_id, arn, 2)
    assert stored_expiry(harness, session_id) == new_expiry
    shown = status(harness, session_id)
    assert (shown["phase"], shown["expiresAt"]) == ("ready", new_expiry)
    assert shown["latestExpiresAt"] == format_timestamp(latest)

    # AND the execution's history says who extended it, by how much, from when to when
    [outcome] = extension_outputs(harness, arn)
    assert outcome["outcome"] == "extended"
    assert (outcome["requestedBy"], outcome["byMinutes"]) == (REQUESTER, 30)
    assert outcome["previousExpiresAt"] == data["ready"]["expiresAt"]

    # AND the bastion's own expiry is the hard stop: the session's latest expiry
    [task] = harness.session_tasks(session_id)
    environment = task["overrides"]["containerOverrides"][0]["environment"]
    assert {"name": "BASTION_EXPIRES_AT", "value": format_timestamp(latest)} in environment

    # WHEN its new expiry comes (faster: 90 minutes of session in seconds)
    harness.aws.time_scale = 1200.0
    final = harness.finish(arn)

    # THEN it expired, and the teardown left nothing
    assert final["status"] == "SUCCEEDED", final
    assert json.loads(final["output"])["end"] == {"reason": "expired"}
    entered = harness.states_entered(arn)
    assert entered[entered.index(session_states.HOLD_SESSION) :][:8] == [
        "HoldSession",
        "ExtendSession",
        "BastionReady",
        "HoldSession",
        "MarkSessionExpired",
        *TEARDOWN,
    ]
    inventory = harness.aws.inventory(session_id)
    assert inventory.is_empty, inventory.render()


def test_an_extension_past_the_maximum_is_refused_naming_the_limit_and_changes_nothing(
    harness: Harness,
) -> None:
    # GIVEN a holding session of an hour on a stack whose maximum is two hours
    session_id, arn, data = holding(harness)

    # WHEN its requester asks for 61 more minutes
    answer = extend(harness, session_id, 61)

    # THEN it is refused naming the limit and what is left of it
    assert answer.status == 400, answer
    assert answer.body["field"] == "byMinutes"
    assert answer.body["limit"] == "MaxDurationMinutes"
    assert "60 min at most" in answer.body["message"], answer.body
    # AND nothing changed: no extension reached the hold, the expiry is as it was
    assert session_states.EXTEND_SESSION not in harness.states_entered(arn)
    assert status(harness, session_id)["expiresAt"] == data["ready"]["expiresAt"]
    # AND exactly the rest of the maximum is still allowed
    assert extend(harness, session_id, 60).status == 202
    harness.end_session(session_id, "ended-by-user")
    harness.finish(arn)


def test_hostile_extension_requests_are_refused_before_anything_changes(
    harness: Harness,
) -> None:
    session_id, arn, data = holding(harness)
    for by in (0, -5, 10**9, "30m", None, True, 1.5, [30], {"by": 30}):
        answer = extend(harness, session_id, by)
        assert answer.status == 400, (by, answer)
        assert answer.body["field"] == "byMinutes", (by, answer)
    path = f"/clusters/{harness.cluster.name}/sessions/{session_id}/extensions"
    for body in ({}, {"byMinutes": 5, "expiresAt": "2099-01-01T00:00:00Z"}):
        assert call_api(harness, "POST", path, body=body).status == 400, body
    assert call_api(harness, "POST", path, raw_body="not json").status == 400
    # An unknown session, and a session of another cluster's route, are not found
    assert extend(harness, "no-such-session", 5).status == 404
    other = f"/clusters/other/sessions/{session_id}/extensions"
    assert call_api(harness, "POST", other, body={"byMinutes": 5}).status == 404
    # Someone else's session is refused; an administrator may extend it
    assert extend(harness, session_id, 5, caller=BOB).status == 403
    assert session_states.EXTEND_SESSION not in harness.states_entered(arn)
    assert status(harness, session_id)["expiresAt"] == data["ready"]["expiresAt"]
    by_admin = extend(harness, session_id, 5, caller=CAROL_AS_ADMIN)
    assert by_admin.status == 202, by_admin
    wait_for_hold(harness, session_id, arn, 2)
    [outcome] = extension_outputs(harness, arn)
    assert (outcome["requestedBy"], outcome["outcome"]) == (CAROL_AS_ADMIN, "extended")
    harness.end_session(session_id, "ended-by-user")
    harness.finish(arn)


def test_a_session_still_starting_is_not_extended(harness: Harness) -> None:
    # GIVEN a session whose first task cannot run yet
    with invocations_paused():
        session_id, arn = harness.start(harness.request(durationMinutes=SESSION_MINUTES))
        # WHEN its requester extends it, THEN that is refused as not holding
        answer = extend(harness, session_id, 5)
    assert answer.status == 409, answer
    assert "starting, not holding" in answer.body["message"]
    # AND the session, once it holds, holds to its own expiry: nothing reached its hold
    data = harness.wait_until_holding(arn, session_id)
    assert data["ready"]["expiresAt"] == data["session"]["expiresAt"]
    assert session_states.EXTEND_SESSION not in harness.states_entered(arn)
    harness.end_session(session_id, "ended-by-user")
    harness.finish(arn)


def test_a_session_that_is_not_holding_is_not_extended(harness: Harness) -> None:
    # GIVEN a session that ended
    session_id, arn, _ = holding(harness)
    harness.end_session(session_id, "ended-by-user")
    harness.finish(arn)
    # WHEN it is extended, THEN that is refused as over
    answer = extend(harness, session_id, 5)
    assert answer.status == 409, answer
    assert "already ended" in answer.body["message"]


def test_concurrent_extensions_each_apply_once_or_are_refused_to_retry(harness: Harness) -> None:
    # GIVEN a holding session
    session_id, arn, data = holding(harness)
    # WHEN four extensions of five minutes arrive together
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: extend(harness, session_id, 5), range(4)))

    # THEN each was accepted or refused as a conflict to retry, at least one accepted
    assert {a.status for a in answers} <= {202, 409}, answers
    accepted = sum(1 for a in answers if a.status == 202)
    assert accepted >= 1
    # AND the session was extended exactly once per extension the hold answered
    wait_for_hold(harness, session_id, arn, 1 + accepted)
    outcomes = extension_outputs(harness, arn)
    assert [o["outcome"] for o in outcomes] == ["extended"] * accepted
    expected = parse_timestamp(data["ready"]["expiresAt"]) + timedelta(minutes=5 * accepted)
    assert status(harness, session_id)["expiresAt"] == format_timestamp(expected)
    harness.end_session(session_id, "ended-by-user")
    harness.finish(arn)


def test_a_request_straight_to_step_functions_is_checked_by_the_workflow(
    harness: Harness,
) -> None:
    """The administrators' way: ``aws stepfunctions send-task-failure`` on the hold's
    token, documented in docs/operations.md. Past the maximum, ExtendSession refuses it,
    the expiry stays, and the session still expires at it and is torn down."""
    # GIVEN a short holding session
    session_id, arn, data = holding(harness, minutes=2)
    token = json.loads(
        harness.aws.client("ssm").get_parameter(Name=harness.parameter_name(session_id))[
            "Parameter"
        ]["Value"]
    )["taskToken"]

    # WHEN an administrator signals its hold with an extension past the maximum
    harness.sfn.send_task_failure(
        taskToken=token,
        error=EXTENSION_REQUESTED,
        cause=json.dumps({"byMinutes": MAX_MINUTES, "requestedBy": ADMIN_ROLE}),
    )
    final = harness.finish(arn)

    # THEN the workflow refused it naming the limit, and the session expired as it was
    [outcome] = extension_outputs(harness, arn)
    assert outcome["outcome"] == "refused"
    assert "MaxDurationMinutes" in outcome["reason"]
    assert outcome["requestedBy"] == ADMIN_ROLE
    assert final["status"] == "SUCCEEDED", final
    assert json.loads(final["output"])["end"] == {"reason": "expired"}
    ready = json.loads(final["output"])["ready"]
    assert ready["expiresAt"] == data["ready"]["expiresAt"]
    assert harness.aws.inventory(session_id).is_empty


@pytest.mark.parametrize("error", ["AwsThrottled", "Lambda.ServiceException", "Lambda.Unknown"])
def test_a_hold_failed_with_a_transient_error_holds_on_to_the_unchanged_expiry(
    harness: Harness, error: str
) -> None:
    """A retried attempt of the hold would wait its full seconds again, from whenever it
    was failed: whoever holds the token could keep the session past its latest expiry by
    failing it with an error that reads as transient. Such a failure is answered as any
    other request is: ExtendSession refuses it and holds on for the seconds left."""
    # GIVEN a holding session
    session_id, arn, data = holding(harness)
    token = json.loads(
        harness.aws.client("ssm").get_parameter(Name=harness.parameter_name(session_id))[
            "Parameter"
        ]["Value"]
    )["taskToken"]

    # WHEN its hold's token is failed with an error that reads as transient
    harness.sfn.send_task_failure(taskToken=token, error=error, cause="a blip")

    # THEN ExtendSession refuses it, names it, and the hold is entered again for no more
    # than the seconds left until the unchanged expiry
    wait_for_hold(harness, session_id, arn, 2)
    [ready] = [
        json.loads(event["stateExitedEventDetails"]["output"])["ready"]
        for event in history(harness.sfn, arn)
        if event.get("stateExitedEventDetails", {}).get("name") == session_states.EXTEND_SESSION
    ]
    assert ready["extension"]["outcome"] == "refused" and error in ready["extension"]["reason"]
    assert ready["expiresAt"] == data["ready"]["expiresAt"]
    assert ready["holdSeconds"] <= data["ready"]["holdSeconds"]
    assert stored_expiry(harness, session_id) == data["ready"]["expiresAt"]

    # AND the session still ends early when asked, and is torn down
    assert harness.end_session(session_id, "user")["functionError"] is None
    final = harness.finish(arn)
    assert final["status"] == "SUCCEEDED", final
    assert harness.aws.inventory(session_id).is_empty


def test_an_extension_overtaken_by_another_is_refused_to_retry_not_misreported(
    harness: Harness,
) -> None:
    """The API answers with the expiry it computed from the session as it read it. A
    request that reaches the hold after another extension moved the expiry would be
    applied to the new one, and the answer would name the wrong expiry: RequestExtension
    is given the expiry the API extended from, and refuses when the hold's is another."""
    # GIVEN a holding session, extended once through the API
    session_id, arn, data = holding(harness)
    first = extend(harness, session_id, 5)
    assert first.status == 202, first
    wait_for_hold(harness, session_id, arn, 2)
    request_extension = harness.stack.function_name("RequestExtensionFunction")
    [sent] = [i.event for i in harness.aws.invocations if i.function_name == request_extension]
    assert sent["expiresAt"] == data["ready"]["expiresAt"]

    # WHEN a request computed from the expiry before that one reaches RequestExtension
    # (an API call that read the session before the first extension was applied)
    answer = harness.aws.client("lambda").invoke(
        FunctionName=request_extension, Payload=json.dumps({**sent, "byMinutes": 5})
    )
    payload = json.loads(answer["Payload"].read())

    # THEN it is refused as a conflict to retry, and the hold was not signalled
    assert answer.get("FunctionError"), payload
    assert payload["errorType"] == "SessionNotHeld" and "retry" in payload["errorMessage"]
    assert status(harness, session_id)["expiresAt"] == first.body["expiresAt"]
    assert [o["outcome"] for o in extension_outputs(harness, arn)] == ["extended"]
    harness.end_session(session_id, "ended-by-user")
    harness.finish(arn)

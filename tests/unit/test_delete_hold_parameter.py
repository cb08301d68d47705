"""DeleteHoldParameter (teardown): the hold's parameter goes; none there is fine."""

from __future__ import annotations

import pytest

from tasks.common.end_request import EndRequest, record_end_request
from tasks.common.models import Session
from tasks.common.settings import Settings
from tasks.delete_hold_parameter import (
    DeletedParameters,
    DeleteHoldParameterInput,
    delete_hold_parameter,
    handler,
)
from tasks.hold_session import HoldSessionInput, hold_session
from tests.unit.support import PARAMETER_PREFIX, LambdaContextStub, client, load_event, make_session

pytestmark = pytest.mark.unit

NAME = f"{PARAMETER_PREFIX}/s-0001"


def hold(session: Session) -> None:
    hold_session(
        HoldSessionInput("token", session),
        settings=Settings(),
        ssm=client("ssm"),
        sfn=client("stepfunctions"),
    )


def delete() -> DeletedParameters:
    request = DeleteHoldParameterInput(session_id="s-0001")
    return delete_hold_parameter(request, settings=Settings(), ssm=client("ssm"))


def names() -> list[str]:
    return [p["Name"] for p in client("ssm").describe_parameters()["Parameters"]]


def test_deletes_the_sessions_parameter_only(mocked_aws: None, session: Session) -> None:
    hold(session)
    hold(make_session("s-0002"))
    assert delete() == DeletedParameters((NAME,))
    assert names() == [f"{PARAMETER_PREFIX}/s-0002"]


def test_deletes_an_end_recorded_for_the_session_too(mocked_aws: None, session: Session) -> None:
    # GIVEN an end recorded beside the hold parameter (the hold was between two attempts)
    hold(session)
    hold(make_session("s-0002"))
    request = EndRequest("ended-by-user", "2026-11-27T10:30:05Z")
    assert record_end_request(client("ssm"), NAME, request, [])

    # WHEN the session's parameters are deleted, THEN both go, and no other session's
    assert delete() == DeletedParameters((NAME, f"{NAME}/end"))
    assert names() == [f"{PARAMETER_PREFIX}/s-0002"]


def test_a_rerun_or_no_parameter_is_success(mocked_aws: None, session: Session) -> None:
    assert delete() == DeletedParameters(())
    hold(session)
    delete()
    assert delete() == DeletedParameters(())


def test_the_handler_reads_the_event_file(
    mocked_aws: None, session: Session, context: LambdaContextStub
) -> None:
    hold(session)
    assert handler(load_event("delete_hold_parameter"), context) == {"deletedParameters": [NAME]}
    assert names() == []

"""HoldSession: the session's task token, stored where EndSession finds it."""

from __future__ import annotations

import json

import pytest

from tasks.common.models import Session
from tasks.common.settings import Settings
from tasks.common.tags import session_tags
from tasks.hold_session import HeldSession, HoldSessionInput, handler, hold_session
from tests.unit.support import PARAMETER_PREFIX, STACK, LambdaContextStub, client, load_event

pytestmark = pytest.mark.unit

NAME = f"{PARAMETER_PREFIX}/s-0001"


def hold(session: Session, token: str) -> HeldSession:
    request = HoldSessionInput(task_token=token, session=session)
    return hold_session(
        request, settings=Settings(), ssm=client("ssm"), sfn=client("stepfunctions")
    )


def stored(name: str = NAME) -> dict:
    parameter = client("ssm").get_parameter(Name=name)["Parameter"]
    assert parameter["Type"] == "String"
    return dict(json.loads(parameter["Value"]), version=parameter["Version"])


def tags(name: str = NAME) -> dict[str, str]:
    tag_list = client("ssm").list_tags_for_resource(ResourceType="Parameter", ResourceId=name)[
        "TagList"
    ]
    return {tag["Key"]: tag["Value"] for tag in tag_list}


def test_stores_the_token_and_the_expiry_tagged(mocked_aws: None, session: Session) -> None:
    result = hold(session, "token-1")
    assert result == HeldSession(NAME)
    assert stored() == {"taskToken": "token-1", "expiresAt": "2026-11-27T11:00:00Z", "version": 1}
    assert tags() == session_tags(session, STACK)


def test_a_retried_hold_replaces_the_token(mocked_aws: None, session: Session) -> None:
    # GIVEN a hold whose first attempt stored its token
    hold(session, "token-1")
    # WHEN Step Functions retries the task (a new token)
    result = hold(session, "token-2")
    # THEN the parameter holds the new token and keeps its tags
    assert result == HeldSession(NAME)
    assert stored() == {"taskToken": "token-2", "expiresAt": "2026-11-27T11:00:00Z", "version": 2}
    assert tags() == session_tags(session, STACK)
    assert len(client("ssm").describe_parameters()["Parameters"]) == 1


def test_the_prefix_comes_from_the_settings(mocked_aws: None, session: Session) -> None:
    request = HoldSessionInput(task_token="t", session=session)
    settings = Settings(session_parameter_prefix="/team-a/bastions")
    result = hold_session(
        request, settings=settings, ssm=client("ssm"), sfn=client("stepfunctions")
    )
    assert result.parameter_name == "/team-a/bastions/s-0001"
    assert stored("/team-a/bastions/s-0001")["taskToken"] == "t"


def test_the_handler_reads_the_event_file(mocked_aws: None, context: LambdaContextStub) -> None:
    event = load_event("hold_session")
    assert handler(event, context) == {"parameterName": NAME}
    assert stored()["taskToken"] == event["taskToken"]


def test_an_extended_hold_stores_its_own_expiry(mocked_aws: None, session: Session) -> None:
    # GIVEN the hold re-entered after an extension to 11:30
    request = HoldSessionInput(
        task_token="token-2", session=session, expires_at="2026-11-27T11:30:00Z"
    )
    hold_session(request, settings=Settings(), ssm=client("ssm"), sfn=client("stepfunctions"))
    # THEN the sweeper reads the extended expiry beside the token
    assert stored()["expiresAt"] == "2026-11-27T11:30:00Z"
    # AND the machine's payload names it so (HoldSession reads expiresAt)
    event = dict(load_event("hold_session"), expiresAt="2026-11-27T11:30:00Z")
    assert HoldSessionInput.from_event(event).expires_at == "2026-11-27T11:30:00Z"

"""Access modes: what the stack allows (its settings), what a request asks, what a session
holds, and the requester's tag."""

from __future__ import annotations

from typing import Any

import pytest

from tasks.common.errors import StepInputInvalid
from tasks.common.models import Session
from tasks.common.settings import Settings, SettingsError
from tasks.common.tags import REQUESTER_ID_TAG, session_tags
from tests.unit.support import STACK, make_session

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("raw", "modes"),
    [
        (None, ("public",)),
        ("", ("public",)),
        ("public", ("public",)),
        ("private", ("private",)),
        ("public,private", ("public", "private")),
        (" private , public ", ("private", "public")),
    ],
)
def test_the_stack_allows_the_modes_its_setting_lists_the_first_by_default(
    raw: str | None, modes: tuple[str, ...]
) -> None:
    env = {} if raw is None else {"BASTION_ACCESS_MODES": raw}
    settings = Settings.from_environ(env)
    assert settings.access_modes == modes
    assert settings.default_access_mode == modes[0]


@pytest.mark.parametrize(
    "raw", ["secret", "public,public", "public,private,public", "PUBLIC", "public;private", ","]
)
def test_a_setting_of_modes_it_does_not_know_is_a_settings_error(raw: str) -> None:
    with pytest.raises(SettingsError, match="BASTION_ACCESS_MODES"):
        Settings.from_environ({"BASTION_ACCESS_MODES": raw})


def test_private_sessions_run_in_the_private_subnets_or_the_bastion_subnets() -> None:
    env = {
        "BASTION_SUBNETS": "subnet-a,subnet-b",
        "BASTION_TASK_DEFINITION": "arn:task-definition/public:1",
        "BASTION_PRIVATE_TASK_DEFINITION": "arn:task-definition/private:1",
        "BASTION_SESSION_DOCUMENT": "fargate-bastion-session-document",
    }
    settings = Settings.from_environ(env)
    assert settings.subnets_for("public") == ("subnet-a", "subnet-b")
    # No private subnets given: the bastion subnets
    assert settings.subnets_for("private") == ("subnet-a", "subnet-b")
    assert settings.task_definition_for("public") == "arn:task-definition/public:1"
    assert settings.task_definition_for("private") == "arn:task-definition/private:1"
    assert settings.session_document == "fargate-bastion-session-document"
    private = Settings.from_environ({**env, "BASTION_PRIVATE_SUBNETS": " subnet-c , subnet-d"})
    assert private.subnets_for("private") == ("subnet-c", "subnet-d")
    assert private.subnets_for("public") == ("subnet-a", "subnet-b")
    with pytest.raises(SettingsError, match="access mode"):
        private.subnets_for("secret")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BASTION_PRIVATE_SUBNETS", "subnet-c,vpc-123"),
        ("BASTION_PRIVATE_TASK_DEFINITION", "two words"),
        ("BASTION_SESSION_DOCUMENT", "a/b"),
        ("BASTION_SESSION_DOCUMENT", "ab"),
    ],
)
def test_malformed_private_settings_are_settings_errors(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_environ({name: value})


def test_a_session_keeps_its_mode_and_requester_and_older_inputs_read_as_public() -> None:
    session = make_session(
        access_mode="private", allowed_cidrs=(), requester_id="AROAEXAMPLE:alice@example.com"
    )
    as_dict = session.to_dict()
    assert as_dict["accessMode"] == "private"
    assert as_dict["requesterId"] == "AROAEXAMPLE:alice@example.com"
    assert Session.from_dict(as_dict).to_dict() == as_dict
    # A session kept before the modes existed (an execution started before the update)
    older = {
        key: value
        for key, value in make_session().to_dict().items()
        if key not in ("accessMode", "requesterId")
    }
    restored = Session.from_dict(older)
    assert (restored.access_mode, restored.requester_id) == ("public", "")


@pytest.mark.parametrize(
    ("key", "value"),
    [("accessMode", "secret"), ("accessMode", 1), ("accessMode", None), ("requesterId", 7)],
)
def test_a_session_with_a_mode_or_requester_of_the_wrong_kind_is_step_input_invalid(
    key: str, value: Any
) -> None:
    data = {**make_session().to_dict(), key: value}
    with pytest.raises(StepInputInvalid, match=key):
        Session.from_dict(data)


def test_every_session_resource_carries_the_requester_id() -> None:
    session = make_session(requester_id="AIDAEXAMPLE")
    assert session_tags(session, STACK)[REQUESTER_ID_TAG] == "AIDAEXAMPLE"
    assert REQUESTER_ID_TAG == "fargate-bastion:requester-id"

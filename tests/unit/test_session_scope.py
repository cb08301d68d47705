"""The one session-id check, and the stack scope every tag, filter and name carries."""

from __future__ import annotations

import pytest

from tasks.common.errors import InvalidRequest
from tasks.common.models import Session
from tasks.common.security_groups import session_group_name
from tasks.common.settings import Settings, SettingsError
from tasks.common.tags import STACK_TAG, session_filter, session_tags, stack_filter
from tasks.delete_hold_parameter import DeleteHoldParameterInput
from tasks.delete_session_security_group import DeleteSessionSecurityGroupInput
from tasks.revoke_control_plane_ingress import RevokeControlPlaneIngressInput
from tasks.stop_bastion_task import StopBastionTaskInput
from tests.unit.support import make_session

pytestmark = pytest.mark.unit

HOSTILE = ["*", "?", "sess*", "..", "../victim", "a/b", "", "séance", "s\n", " s", 7, None]
TEARDOWN_INPUTS = [
    StopBastionTaskInput,
    RevokeControlPlaneIngressInput,
    DeleteSessionSecurityGroupInput,
    DeleteHoldParameterInput,
]


@pytest.mark.parametrize("session_id", HOSTILE)
@pytest.mark.parametrize("task_input", TEARDOWN_INPUTS)
def test_every_teardown_task_refuses_a_hostile_id(task_input: type, session_id: object) -> None:
    with pytest.raises(InvalidRequest, match="^sessionId: "):
        task_input.from_event({"sessionId": session_id})


@pytest.mark.parametrize("session_id", HOSTILE)
def test_a_hostile_id_never_becomes_a_filter_a_name_or_a_path(session_id: object) -> None:
    with pytest.raises(InvalidRequest, match="^sessionId: "):
        session_filter(session_id, "stack-a")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match="^sessionId: "):
        session_group_name(session_id, "stack-a")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match="^sessionId: "):
        Settings().parameter_name(session_id)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match="^sessionId: "):
        Session.from_dict({**make_session().to_dict(), "sessionId": session_id})


def test_tags_filters_names_and_paths_carry_the_stack() -> None:
    session = make_session("s-1")
    assert session_tags(session, "stack-a")[STACK_TAG] == "stack-a"
    assert {"Name": f"tag:{STACK_TAG}", "Values": ["stack-a"]} in session_filter("s-1", "stack-a")
    assert session_group_name("s-1", "stack-a") != session_group_name("s-1", "stack-b")
    settings = Settings.from_environ({"STACK_NAME": "stack-a"})
    assert settings.parameter_name("s-1") == "/fargate-bastion/stack-a/sessions/s-1"
    with pytest.raises(ValueError, match="not a stack name"):
        stack_filter("*")


@pytest.mark.parametrize("stack_name", ["a/b", "-a", "a*", "1abc"])
def test_a_malformed_stack_name_is_a_settings_error(stack_name: str) -> None:
    with pytest.raises(SettingsError, match="STACK_NAME"):
        Settings.from_environ({"STACK_NAME": stack_name})

"""The ready wait as kept in SSM: a value that is not one is a named error, never a token."""

from __future__ import annotations

import json

import pytest

from tasks.common.errors import StepInputInvalid
from tasks.common.ready_wait import ReadyWait, read_ready_wait, store_ready_wait
from tests.unit.support import client

pytestmark = pytest.mark.unit

NAME = "/fargate-bastion/fargate-bastion/sessions/s-0001/ready"
WAIT = ReadyWait(
    task_token="token",
    session_id="s-0001",
    cluster="demo",
    expires_at="2026-11-27T11:00:00Z",
    task_arn="arn:aws:ecs:us-east-1:123456789012:task/c/0f9e8d7c6b5a49382716a5b4c3d2e1f0",
    rule_scope="control-plane-only",
)


def test_a_kept_wait_reads_back_and_a_later_attempt_replaces_it(local_aws) -> None:
    ssm = client("ssm")
    assert read_ready_wait(ssm, NAME) is None
    store_ready_wait(ssm, NAME, WAIT, [{"Key": "fargate-bastion:session", "Value": "s-0001"}])
    store_ready_wait(ssm, NAME, ReadyWait(**{**WAIT.__dict__, "task_token": "newer"}), [])
    assert read_ready_wait(ssm, NAME) == ReadyWait(**{**WAIT.__dict__, "task_token": "newer"})


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("not json", "not JSON"),
        ('["a list"]', "not an object"),
        ('{"taskToken": "t"}', "sessionId"),
        (WAIT.to_json().replace('"token"', "7"), "taskToken"),
        (WAIT.to_json().replace("control-plane-only", "everywhere"), "controlPlaneRuleScope"),
    ],
    ids=["not json", "not an object", "fields missing", "token not text", "unknown scope"],
)
def test_a_value_that_is_not_a_wait_is_a_named_error(local_aws, value: str, named: str) -> None:
    ssm = client("ssm")
    ssm.put_parameter(Name=NAME, Value=value, Type="String")
    with pytest.raises(StepInputInvalid, match=named):
        read_ready_wait(ssm, NAME)


def test_a_private_wait_reads_back_private_and_one_kept_without_a_mode_as_public(
    local_aws,
) -> None:
    ssm = client("ssm")
    private = ReadyWait(**{**WAIT.__dict__, "access_mode": "private"})
    store_ready_wait(ssm, NAME, private, [])
    assert read_ready_wait(ssm, NAME) == private
    # A wait kept before the modes existed
    older = {key: value for key, value in json.loads(WAIT.to_json()).items() if key != "accessMode"}
    ssm.put_parameter(Name=NAME, Value=json.dumps(older), Type="String", Overwrite=True)
    kept = read_ready_wait(ssm, NAME)
    assert kept is not None and kept.access_mode == "public"


@pytest.mark.parametrize("mode", ["secret", 7, None, ""])
def test_a_wait_of_a_mode_no_session_has_is_step_input_invalid(local_aws, mode) -> None:
    ssm = client("ssm")
    value = {**json.loads(WAIT.to_json()), "accessMode": mode}
    ssm.put_parameter(Name=NAME, Value=json.dumps(value), Type="String")
    with pytest.raises(StepInputInvalid, match="accessMode"):
        read_ready_wait(ssm, NAME)

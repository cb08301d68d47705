"""What a session owns, found as teardown finds it, and GET .../resources that shows it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tasks.common.aws import client as aws_client
from tasks.common.bastion_tasks import STARTED_BY
from tasks.common.end_request import end_request_name
from tasks.common.models import Session
from tasks.common.security_groups import session_group_name
from tasks.common.session_resources import find_session_resources
from tasks.common.settings import Settings, session_parameter_prefix
from tasks.common.tags import as_ecs_tags, as_key_value_list, ec2_tag_specification, session_tags
from tests.unit.support import (
    ECS_CLUSTER,
    EKS_CLUSTER,
    STACK,
    Network,
    client,
    make_session,
)
from tests.unit.test_api import (  # noqa: F401
    ADMIN_ROLE,
    ALICE,
    BOB,
    HOSTILE_IDS,
    api_env,
    call,
    event,
    valid_body,
)

#: api_env (the API function's environment, with the session machine) for every test.
pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("api_env")]

TOKEN = "the-hold-task-token"


def own(session: Session, network: Network, stack: str = STACK) -> str:
    """Make what a holding session owns, named and tagged as the setup steps do; returns
    the session group's id."""
    tags = session_tags(session, stack)
    ec2 = client("ec2")
    group_id: str = ec2.create_security_group(
        GroupName=session_group_name(session.session_id, stack),
        Description="session",
        VpcId=network.vpc_id,
        TagSpecifications=ec2_tag_specification("security-group", tags),
    )["GroupId"]
    door(group_id, network.control_plane_group_id, tags)
    client("ecs").run_task(
        cluster=ECS_CLUSTER,
        taskDefinition=network.task_definition_arn,
        launchType="FARGATE",
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": list(network.subnet_ids),
                "securityGroups": [group_id],
            }
        },
        startedBy=STARTED_BY,
        tags=as_ecs_tags(tags),
    )
    client("ssm").put_parameter(
        Name=f"{session_parameter_prefix(stack)}/{session.session_id}",
        Value=json.dumps({"taskToken": TOKEN}),
        Type="String",
        Tags=as_key_value_list(tags),
    )
    return group_id


def door(session_group: str, on_group: str, tags: dict[str, str]) -> str:
    """An HTTPS rule on ``on_group`` letting ``session_group`` in, tagged ``tags``."""
    rule_id: str = client("ec2").authorize_security_group_ingress(
        GroupId=on_group,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "UserIdGroupPairs": [{"GroupId": session_group}],
            }
        ],
        TagSpecifications=ec2_tag_specification("security-group-rule", tags),
    )["SecurityGroupRules"][0]["SecurityGroupRuleId"]
    return rule_id


def find(settings: Settings, session_id: str = "s-0001") -> dict[str, Any]:
    return find_session_resources(
        session_id,
        settings=settings,
        ec2=client("ec2"),
        ecs=client("ecs"),
        ssm=client("ssm"),
    ).to_dict()


# ----------------------------------------------------------------------- the finder


def test_forged_tags_and_other_sessions_are_not_the_sessions(
    network: Network, settings: Settings, session: Session
) -> None:
    # GIVEN another session's resources, and another stack's for a session of the same id
    own(make_session("s-0002"), network)
    own(session, network, stack="other-stack")
    # AND a group tagged as this session's (anyone who may tag can) but named otherwise,
    # with a rule tagged as this session's letting it into the control plane
    tags = session_tags(session, STACK)
    forged: str = client("ec2").create_security_group(
        GroupName="not-a-session-group",
        Description="forged",
        VpcId=network.vpc_id,
        TagSpecifications=ec2_tag_specification("security-group", tags),
    )["GroupId"]
    door(forged, network.control_plane_group_id, tags)
    # WHEN this session's resources are looked for
    found = find(settings)
    # THEN it owns nothing: names and the stack tag decide, not a session tag
    assert found == {
        "securityGroups": [],
        "controlPlaneRules": [],
        "bastionTasks": [],
        "holdParameters": [],
    }


def test_a_holding_session_owns_its_group_rule_task_and_hold_parameter(
    network: Network, settings: Settings, session: Session
) -> None:
    group_id = own(session, network)
    ssm = aws_client("ssm")
    calls: list[str] = []
    ssm.meta.events.register("before-call.*.*", lambda model, **_: calls.append(model.name))
    found = find_session_resources(
        "s-0001", settings=settings, ec2=client("ec2"), ecs=client("ecs"), ssm=ssm
    ).to_dict()
    (group,) = found["securityGroups"]
    assert (group["groupId"], group["groupName"]) == (group_id, f"fargate-bastion-{STACK}-s-0001")
    assert group["tags"] == session_tags(session, STACK)
    (rule,) = found["controlPlaneRules"]
    assert rule["groupId"] == network.control_plane_group_id
    assert (rule["protocol"], rule["fromPort"], rule["toPort"]) == ("tcp", 443, 443)
    assert rule["referencedGroupId"] == group_id
    (task,) = found["bastionTasks"]
    assert task["taskArn"].startswith("arn:aws:ecs:") and task["lastStatus"]
    hold = settings.parameter_name("s-0001")
    assert found["holdParameters"] == [{"name": hold}]
    # The hold parameter's value (the task token) is never read, nor shown
    assert set(calls) == {"ListTagsForResource"}
    assert TOKEN not in json.dumps(found)
    # AND an end recorded beside the hold is the session's too
    client("ssm").put_parameter(Name=end_request_name(hold), Value="{}", Type="String")
    assert find(settings)["holdParameters"] == [{"name": hold}, {"name": end_request_name(hold)}]


# ----------------------------------------------------------------------- the route


@pytest.fixture
def started(network: Network, monkeypatch: pytest.MonkeyPatch) -> str:
    """Alice's session (started through the API), owning what a holding session owns."""
    monkeypatch.setenv("BASTION_ECS_CLUSTER", ECS_CLUSTER)
    status, body = call(event(body=valid_body()))
    assert status == 201, body
    session_id = str(body["sessionId"])
    own(make_session(session_id), network)
    return session_id


def get(session_id: str, user_arn: str = ALICE, cluster: str = EKS_CLUSTER) -> Any:
    path = f"/clusters/{cluster}/sessions/{session_id}/resources"
    return call(event("GET", path, user_arn=user_arn))


@pytest.mark.parametrize(
    "session_id", [case[1] for case in HOSTILE_IDS], ids=[case[0] for case in HOSTILE_IDS]
)
def test_a_hostile_session_id_is_400_before_any_aws_call(session_id: str) -> None:
    calls: list[str] = []
    for service in ("stepfunctions", "ec2", "ecs", "ssm"):
        aws_client(service).meta.events.register(
            "before-call.*.*", lambda model, **_: calls.append(model.name)
        )
    status, body = get(session_id)
    assert (status, body["field"]) == (400, "sessionId"), body
    assert calls == []


def test_another_callers_session_is_403_and_another_clusters_route_404(started: str) -> None:
    status, body = get(started, user_arn=BOB)
    assert status == 403, body
    assert "securityGroups" not in body
    for cluster in ("ledger", "payments-not-allowed"):
        status, body = get(started, cluster=cluster)
        assert status == 404, body
    assert get("nobody-1")[0] == 404


def test_the_requester_and_an_admin_see_what_the_session_owns(started: str) -> None:
    admin = f"arn:aws:sts::{ADMIN_ROLE.split(':')[4]}:assumed-role/BastionAdmin/carol"
    for caller in (ALICE, admin):
        status, body = get(started, user_arn=caller)
        assert status == 200, body
        assert (body["sessionId"], body["cluster"], body["status"]) == (
            started,
            EKS_CLUSTER,
            "RUNNING",
        )
        kinds = ("securityGroups", "controlPlaneRules", "bastionTasks", "holdParameters")
        assert [len(body[kind]) for kind in kinds] == [1, 1, 1, 1], body
        assert TOKEN not in json.dumps(body)

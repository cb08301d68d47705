"""What a session owns, found as teardown finds it: one finder for teardown and the API.

- its security groups: tagged with the session and the stack AND named as the stack names
  them (:func:`~tasks.common.security_groups.find_session_groups`);
- its control-plane rules: inbound rules on another group that let one of those groups in,
  found by their tags or, untagged, by the group they refer to;
- its bastion tasks: the stack's ECS cluster's tasks tagged with the session and the stack,
  not stopped or stopping (:func:`~tasks.common.bastion_tasks.find_session_tasks`);
- its hold parameter and end request: fixed names under the stack's own parameter path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from tasks.common.bastion_tasks import find_session_tasks, require_ecs_cluster
from tasks.common.end_request import end_request_name
from tasks.common.observability import error_code
from tasks.common.ready_wait import ready_parameter_name
from tasks.common.security_groups import (
    describe_groups,
    describe_rules,
    find_session_groups,
    referenced_group,
)
from tasks.common.settings import Settings
from tasks.common.tags import TAG_PREFIX, session_filter


def find_control_plane_rules(
    ec2: Any, session_id: str, stack_name: str, session_groups: set[str]
) -> list[dict[str, Any]]:
    """The inbound rules on other groups that let one of ``session_groups`` (the session's,
    whose names prove the stack made them) in, by rule id. A rule merely tagged as the
    session's (anyone who may tag can tag) is not one."""
    doors = {
        rule["SecurityGroupRuleId"]: rule
        for rule in describe_rules(ec2, session_filter(session_id, stack_name))
        if _is_door(rule, session_groups)
    }
    for session_group in sorted(session_groups):
        referring = describe_groups(
            ec2, [{"Name": "ip-permission.group-id", "Values": [session_group]}]
        )
        for group in referring:
            if group["GroupId"] in session_groups:
                continue
            for rule in describe_rules(ec2, [{"Name": "group-id", "Values": [group["GroupId"]]}]):
                if _is_door(rule, session_groups) and referenced_group(rule) == session_group:
                    doors[rule["SecurityGroupRuleId"]] = rule
    return [doors[rule_id] for rule_id in sorted(doors)]


def _is_door(rule: dict[str, Any], session_groups: set[str]) -> bool:
    """An inbound rule on another group that lets one of the session's groups in: while
    it exists, the group cannot be deleted."""
    return (
        not rule.get("IsEgress")
        and rule["GroupId"] not in session_groups
        and referenced_group(rule) in session_groups
    )


def hold_parameter_names(settings: Settings, session_id: str) -> tuple[str, str, str]:
    """The session's hold parameter, its end request (:mod:`tasks.common.end_request`) and
    its ready wait (:mod:`tasks.common.ready_wait`)."""
    name = settings.parameter_name(session_id)
    return name, end_request_name(name), ready_parameter_name(name)


@dataclass(frozen=True)
class SessionResources:
    """Everything a session owns in AWS, as teardown would find it."""

    security_groups: tuple[dict[str, Any], ...]
    control_plane_rules: tuple[dict[str, Any], ...]
    bastion_tasks: tuple[dict[str, Any], ...]
    #: Names only: the hold parameter's value is the session's task token.
    hold_parameters: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "securityGroups": [
                {
                    "groupId": group["GroupId"],
                    "groupName": group["GroupName"],
                    "vpcId": group.get("VpcId"),
                    "tags": {
                        tag["Key"]: tag["Value"]
                        for tag in group.get("Tags", [])
                        if tag["Key"].startswith(f"{TAG_PREFIX}:")
                    },
                }
                for group in self.security_groups
            ],
            "controlPlaneRules": [
                {
                    "ruleId": rule["SecurityGroupRuleId"],
                    "groupId": rule["GroupId"],
                    "protocol": rule.get("IpProtocol"),
                    "fromPort": rule.get("FromPort"),
                    "toPort": rule.get("ToPort"),
                    "referencedGroupId": referenced_group(rule),
                }
                for rule in self.control_plane_rules
            ],
            "bastionTasks": [
                {"taskArn": task["taskArn"], "lastStatus": task.get("lastStatus")}
                for task in self.bastion_tasks
            ],
            "holdParameters": [{"name": name} for name in self.hold_parameters],
        }


def find_session_resources(
    session_id: str, *, settings: Settings, ec2: Any, ecs: Any, ssm: Any
) -> SessionResources:
    """What ``session_id`` of this stack owns now: what teardown would remove."""
    stack = settings.stack_name
    groups = find_session_groups(ec2, session_id, stack)
    rules = find_control_plane_rules(ec2, session_id, stack, {g["GroupId"] for g in groups})
    tasks = find_session_tasks(ecs, require_ecs_cluster(settings), session_id, stack)
    return SessionResources(
        security_groups=tuple(groups),
        control_plane_rules=tuple(rules),
        bastion_tasks=tuple(tasks),
        hold_parameters=tuple(
            name for name in hold_parameter_names(settings, session_id) if _exists(ssm, name)
        ),
    )


def _exists(ssm: Any, name: str) -> bool:
    """Whether parameter ``name`` exists, asked without reading its value."""
    try:
        ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=name)
    except ClientError as error:
        if error_code(error) != "InvalidResourceId":
            raise
        return False
    return True

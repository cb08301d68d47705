"""Finding a session's security groups and rules by their tags."""

from __future__ import annotations

from typing import Any

from tasks.common.tags import session_filter
from tasks.common.validation import check_session_id

#: Error codes that mean "already there" or "already gone": done, for an idempotent step.
DUPLICATE_RULE = "InvalidPermission.Duplicate"
RULE_GONE = frozenset(
    {"InvalidPermission.NotFound", "InvalidSecurityGroupRuleId.NotFound", "InvalidGroup.NotFound"}
)
GROUP_GONE = "InvalidGroup.NotFound"


def session_group_name(session_id: str, stack_name: str) -> str:
    """The name of a session's security group: unique per stack within a VPC."""
    return f"fargate-bastion-{stack_name}-{check_session_id(session_id)}"


def find_session_groups(
    ec2: Any, session_id: str, stack_name: str, vpc_id: str | None = None
) -> list[dict[str, Any]]:
    """The session's security groups: tagged with ``session_id`` and ``stack_name`` AND
    named as the stack names them (in ``vpc_id``, if given).

    Tags alone prove nothing: anyone who may tag a group can give it these tags. A group's
    name is fixed when it is created, so an existing group tagged afterwards never passes.
    """
    filters: list[dict[str, Any]] = [
        *session_filter(session_id, stack_name),
        {"Name": "group-name", "Values": [session_group_name(session_id, stack_name)]},
    ]
    if vpc_id:
        filters = [*filters, {"Name": "vpc-id", "Values": [vpc_id]}]
    return describe_groups(ec2, filters)


def describe_groups(ec2: Any, filters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every security group matching ``filters``, across pages."""
    groups: list[dict[str, Any]] = []
    for page in ec2.get_paginator("describe_security_groups").paginate(Filters=filters):
        groups.extend(page["SecurityGroups"])
    return groups


def describe_rules(ec2: Any, filters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every security group rule matching ``filters``, across pages."""
    rules: list[dict[str, Any]] = []
    for page in ec2.get_paginator("describe_security_group_rules").paginate(Filters=filters):
        rules.extend(page["SecurityGroupRules"])
    return rules


def referenced_group(rule: dict[str, Any]) -> str | None:
    """The security group a rule refers to, if it refers to one."""
    info = rule.get("ReferencedGroupInfo") or {}
    group_id = info.get("GroupId")
    return str(group_id) if group_id else None

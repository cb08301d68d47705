"""RevokeControlPlaneIngress (teardown): close the session's door on the control plane.

A door is any inbound permission on another group that lets one of the session's groups
(of this stack, proved by their name and tags) in, whoever made it and whether or not it
is tagged: while one exists, the session group cannot be deleted. The groups that hold
doors are found in one call by the group their permissions refer to, and each door is
revoked by its permission, so the step costs two lookups and one call per door. Doors
already gone, or never made, are success. Another stack's rules, even for a session of
the same name, are never touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from tasks.common.aws import client
from tasks.common.models import require
from tasks.common.observability import error_code, logger, task_handler
from tasks.common.security_groups import (
    RULE_GONE,
    describe_groups,
    find_session_groups,
)
from tasks.common.settings import load_settings
from tasks.common.validation import check_session_id

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@dataclass(frozen=True)
class RevokeControlPlaneIngressInput:
    """The task's input."""

    session_id: str

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> RevokeControlPlaneIngressInput:
        return cls(session_id=check_session_id(require(event, "sessionId")))


@dataclass(frozen=True)
class Door:
    """One inbound permission on ``group_id`` that lets ``session_group_id`` in."""

    group_id: str
    session_group_id: str
    ip_protocol: str
    from_port: int | None
    to_port: int | None
    #: The pair's description, passed back as described (AWS matches a permission on its
    #: protocol, ports and group; the local AWS on the description too).
    description: str = ""

    def permission(self) -> dict[str, Any]:
        """The permission to revoke: this door's protocol and ports, the session group only."""
        ports = {} if self.from_port is None else {"FromPort": self.from_port}
        if self.to_port is not None:
            ports["ToPort"] = self.to_port
        return {
            "IpProtocol": self.ip_protocol,
            **ports,
            "UserIdGroupPairs": [
                {"GroupId": self.session_group_id}
                | ({"Description": self.description} if self.description else {})
            ],
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "groupId": self.group_id,
            "sessionGroupId": self.session_group_id,
            "ipProtocol": self.ip_protocol,
            "fromPort": self.from_port,
            "toPort": self.to_port,
        }


@dataclass(frozen=True)
class RevokedRules:
    """The task's output: the doors revoked, and their rule ids where AWS names them."""

    revoked: tuple[Door, ...]
    revoked_rule_ids: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "revokedRules": [door.to_dict() for door in self.revoked],
            "revokedRuleIds": list(self.revoked_rule_ids),
        }


def find_doors(ec2: Any, session_groups: set[str]) -> list[Door]:
    """Every inbound permission on another group that lets one of ``session_groups`` in."""
    if not session_groups:
        return []
    referring = describe_groups(
        ec2, [{"Name": "ip-permission.group-id", "Values": sorted(session_groups)}]
    )
    doors = {
        Door(
            group_id=str(group["GroupId"]),
            session_group_id=str(pair["GroupId"]),
            ip_protocol=str(permission["IpProtocol"]),
            from_port=permission.get("FromPort"),
            to_port=permission.get("ToPort"),
            description=str(pair.get("Description") or ""),
        )
        for group in referring
        if group["GroupId"] not in session_groups
        for permission in group.get("IpPermissions", [])
        for pair in permission.get("UserIdGroupPairs", [])
        if pair.get("GroupId") in session_groups
    }
    return sorted(doors, key=lambda door: (door.group_id, door.session_group_id, door.ip_protocol))


def revoke_control_plane_ingress(
    request: RevokeControlPlaneIngressInput, *, stack_name: str, ec2: Any
) -> RevokedRules:
    """Revoke every inbound permission on another group that lets this session's group in.

    The session group's own SSH rules are left to go with the group.
    """
    session_groups = {
        str(group["GroupId"]) for group in find_session_groups(ec2, request.session_id, stack_name)
    }
    revoked: list[Door] = []
    rule_ids: list[str] = []
    for door in find_doors(ec2, session_groups):
        try:
            response = ec2.revoke_security_group_ingress(
                GroupId=door.group_id, IpPermissions=[door.permission()]
            )
        except ClientError as error:
            if error_code(error) not in RULE_GONE:
                raise
            logger.info("rule already gone", extra=door.to_dict())
            continue
        if response.get("UnknownIpPermissions"):
            # AWS may answer a permission it does not hold this way rather than with an error.
            logger.info("rule already gone", extra=door.to_dict())
            continue
        ids = [
            str(rule["SecurityGroupRuleId"])
            for rule in response.get("RevokedSecurityGroupRules", [])
        ]
        logger.info("revoked control-plane ingress", extra={**door.to_dict(), "ruleIds": ids})
        revoked.append(door)
        rule_ids.extend(ids)
    return RevokedRules(tuple(revoked), tuple(rule_ids))


@task_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """RevokeControlPlaneIngress."""
    request = RevokeControlPlaneIngressInput.from_event(event)
    return revoke_control_plane_ingress(
        request, stack_name=load_settings().stack_name, ec2=client("ec2")
    ).to_dict()

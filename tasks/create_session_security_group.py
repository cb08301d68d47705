"""CreateSessionSecurityGroup: the session's own group, SSH in from the allowed CIDRs only,
HTTPS out to the cluster's control plane and the stack's egress destinations only. A
private session's group lets nothing in at all: its users come through Session Manager.

Idempotent: a re-run meets the group's name taken, finds the group by its name and
session tag, and converges its rules, so a retry after a partial success neither
duplicates anything nor fails.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from tasks.common.access_modes import PRIVATE
from tasks.common.aws import client
from tasks.common.cidrs import is_ipv6
from tasks.common.egress import GROUP_ID, https_to, rule_destination
from tasks.common.models import Session, require
from tasks.common.observability import error_code, logger, task_handler
from tasks.common.security_groups import (
    DUPLICATE_RULE,
    RULE_GONE,
    describe_groups,
    describe_rules,
    session_group_name,
)
from tasks.common.settings import load_settings
from tasks.common.tags import ec2_tag_specification, owned_by, session_tags

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

SSH_PORT = 22
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class CreateSessionSecurityGroupInput:
    """The task's input."""

    session: Session
    vpc_id: str
    #: The group on the control plane's interfaces (FindControlPlane): HTTPS goes there.
    control_plane_group_id: str

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> CreateSessionSecurityGroupInput:
        control_plane = require(event, "controlPlane")
        group_id = str(require(control_plane, "controlPlaneSecurityGroupId", within="controlPlane"))
        if not GROUP_ID.fullmatch(group_id):
            raise ValueError(f"controlPlaneSecurityGroupId must be a group id, got {group_id!r}")
        return cls(
            session=Session.from_dict(require(event, "session")),
            vpc_id=str(require(control_plane, "vpcId", within="controlPlane")),
            control_plane_group_id=group_id,
        )


@dataclass(frozen=True)
class SessionSecurityGroup:
    """The task's output."""

    group_id: str
    created: bool

    def to_dict(self) -> dict[str, Any]:
        return {"groupId": self.group_id, "created": self.created}


def create_session_security_group(
    request: CreateSessionSecurityGroupInput,
    *,
    stack_name: str,
    ec2: Any,
    egress_destinations: tuple[str, ...] = (),
) -> SessionSecurityGroup:
    """Find or create the session's group, then make its rules exactly what they must be.

    Ingress is SSH from each of the session's networks, or, for a private session, none;
    any other ingress rule found is revoked. Egress is HTTPS to the control plane's group and
    to each of ``egress_destinations`` (the stack's, for the task's image pull and logs),
    and nothing else.
    """
    session = request.session
    group_id, created = _create_group(ec2, session, stack_name, request.vpc_id)
    tags = session_tags(session, stack_name)
    ssh_from = () if session.access_mode == PRIVATE else session.allowed_cidrs
    for cidr in ssh_from:
        _authorize_ssh(ec2, group_id, session.session_id, cidr, tags)
    wanted = {request.control_plane_group_id: "HTTPS: the cluster's API endpoint"}
    for destination in egress_destinations:
        wanted.setdefault(destination, "HTTPS: the task's image pull and logs")
    networks = frozenset(ipaddress.ip_network(cidr) for cidr in ssh_from)
    _restrict_rules(ec2, group_id, wanted, tags, ssh_from=networks)
    return SessionSecurityGroup(group_id=group_id, created=created)


def _create_group(ec2: Any, session: Session, stack_name: str, vpc_id: str) -> tuple[str, bool]:
    """The session's group, created (True), or found after an earlier attempt (False).

    Creating first costs one call on the common path; the name is unique per stack and
    session within a VPC, so a retry meets InvalidGroup.Duplicate and finds the group.
    """
    name = session_group_name(session.session_id, stack_name)
    try:
        group_id = str(
            ec2.create_security_group(
                GroupName=name,
                Description=f"fargate-bastion session {session.session_id}: SSH to the bastion",
                VpcId=vpc_id,
                TagSpecifications=ec2_tag_specification(
                    "security-group", session_tags(session, stack_name)
                ),
            )["GroupId"]
        )
    except ClientError as error:
        if error_code(error) != "InvalidGroup.Duplicate":
            raise
        # The name is taken: ours only if it carries our session tag.
        named = describe_groups(
            ec2,
            [{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": [name]}],
        )
        ours = [group for group in named if owned_by(_tags(group), session.session_id, stack_name)]
        if not ours:
            raise
        return str(ours[0]["GroupId"]), False
    logger.info("created session security group", extra={"groupId": group_id, "vpcId": vpc_id})
    return group_id, True


def _authorize_ssh(
    ec2: Any, group_id: str, session_id: str, cidr: str, tags: dict[str, str]
) -> None:
    description = f"SSH to fargate-bastion session {session_id}"
    ranges: dict[str, Any] = (
        {"Ipv6Ranges": [{"CidrIpv6": cidr, "Description": description}]}
        if is_ipv6(cidr)
        else {"IpRanges": [{"CidrIp": cidr, "Description": description}]}
    )
    permission = {"IpProtocol": "tcp", "FromPort": SSH_PORT, "ToPort": SSH_PORT, **ranges}
    # One call per CIDR: a call with one duplicate among several adds none of them.
    if _authorize(ec2.authorize_security_group_ingress, group_id, permission, tags):
        logger.info("authorized SSH ingress", extra={"groupId": group_id, "cidr": cidr})


def _restrict_rules(
    ec2: Any,
    group_id: str,
    wanted: dict[str, str],
    tags: dict[str, str],
    *,
    ssh_from: frozenset[Network],
) -> None:
    # The bastion speaks HTTPS to its cluster's endpoint, and the task to its registry and
    # CloudWatch Logs; DNS to the VPC resolver is not subject to security group rules.
    # Every other egress rule goes, the default allow-all one first of all, and every
    # ingress rule but SSH from ``ssh_from`` (none for a private session): a group found
    # by its name and tags may hold rules the session never asked for.
    for destination, description in wanted.items():
        if _authorize(
            ec2.authorize_security_group_egress, group_id, https_to(destination, description), tags
        ):
            logger.info(
                "authorized HTTPS egress", extra={"groupId": group_id, "destination": destination}
            )
    rules = describe_rules(ec2, [{"Name": "group-id", "Values": [group_id]}])
    for rule in rules:
        egress = bool(rule.get("IsEgress"))
        kept = rule_destination(rule) in wanted if egress else _ssh_source(rule) in ssh_from
        if kept:
            continue
        revoke = ec2.revoke_security_group_egress if egress else ec2.revoke_security_group_ingress
        try:
            revoke(GroupId=group_id, SecurityGroupRuleIds=[rule["SecurityGroupRuleId"]])
        except ClientError as error:
            if error_code(error) not in RULE_GONE:
                raise
        logger.info(
            "revoked egress rule" if egress else "revoked ingress rule",
            extra={"groupId": group_id, "ruleId": rule["SecurityGroupRuleId"]},
        )


def _ssh_source(rule: dict[str, Any]) -> Network | None:
    """The network of a DescribeSecurityGroupRules ingress rule that lets SSH in from a
    CIDR (however AWS spells it), else None."""
    ssh = ("tcp", SSH_PORT, SSH_PORT)
    cidr = rule.get("CidrIpv4") or rule.get("CidrIpv6")
    if (rule.get("IpProtocol"), rule.get("FromPort"), rule.get("ToPort")) != ssh or not cidr:
        return None
    return ipaddress.ip_network(cidr)


def _authorize(call: Any, group_id: str, permission: dict[str, Any], tags: dict[str, str]) -> bool:
    """Authorize one permission; False when it already existed."""
    try:
        call(
            GroupId=group_id,
            IpPermissions=[permission],
            TagSpecifications=ec2_tag_specification("security-group-rule", tags),
        )
    except ClientError as error:
        if error_code(error) == DUPLICATE_RULE:
            return False
        raise
    return True


def _tags(resource: dict[str, Any]) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in resource.get("Tags", [])}


@task_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """CreateSessionSecurityGroup."""
    request = CreateSessionSecurityGroupInput.from_event(event)
    settings = load_settings()
    return create_session_security_group(
        request,
        stack_name=settings.stack_name,
        ec2=client("ec2"),
        egress_destinations=settings.egress_destinations,
    ).to_dict()

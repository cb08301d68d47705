"""AuthorizeControlPlaneIngress: let the session group reach the EKS API on 443.

The rule is added to the group FindControlPlane chose (a control-plane-only group when
the cluster has one marked for bastions, else the cluster security group), tagged with
the session and its stack so teardown and the sweeper find it. A re-run finds the rule
it made before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from tasks.common.aws import client
from tasks.common.errors import ControlPlaneRuleQuotaReached
from tasks.common.models import Session, require
from tasks.common.observability import error_code, logger, task_handler
from tasks.common.security_groups import DUPLICATE_RULE, describe_rules, referenced_group
from tasks.common.settings import load_settings
from tasks.common.tags import ec2_tag_specification, session_tags

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

HTTPS_PORT = 443
RULE_QUOTA_EXCEEDED = "RulesPerSecurityGroupLimitExceeded"


@dataclass(frozen=True)
class AuthorizeControlPlaneIngressInput:
    """The task's input."""

    session: Session
    cluster_security_group_id: str
    session_security_group_id: str

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> AuthorizeControlPlaneIngressInput:
        # The group FindControlPlane chose for the rule.
        rule_group = require(
            require(event, "controlPlane"), "controlPlaneSecurityGroupId", within="controlPlane"
        )
        group = require(event, "sessionSecurityGroup")
        return cls(
            session=Session.from_dict(require(event, "session")),
            cluster_security_group_id=str(rule_group),
            session_security_group_id=str(require(group, "groupId", within="sessionSecurityGroup")),
        )


@dataclass(frozen=True)
class ControlPlaneIngress:
    """The task's output: the rule that lets the session in."""

    rule_id: str
    cluster_security_group_id: str

    def to_dict(self) -> dict[str, Any]:
        return {"ruleId": self.rule_id, "clusterSecurityGroupId": self.cluster_security_group_id}


def authorize_control_plane_ingress(
    request: AuthorizeControlPlaneIngressInput, *, stack_name: str, ec2: Any
) -> ControlPlaneIngress:
    """Add (or find) the rule allowing HTTPS from the session group to the control plane."""
    cluster_group = request.cluster_security_group_id
    permission = {
        "IpProtocol": "tcp",
        "FromPort": HTTPS_PORT,
        "ToPort": HTTPS_PORT,
        "UserIdGroupPairs": [
            {
                "GroupId": request.session_security_group_id,
                "Description": (
                    f"fargate-bastion session {request.session.session_id} (stack {stack_name})"
                )[:255],
            }
        ],
    }
    try:
        response = ec2.authorize_security_group_ingress(
            GroupId=cluster_group,
            IpPermissions=[permission],
            TagSpecifications=ec2_tag_specification(
                "security-group-rule", session_tags(request.session, stack_name)
            ),
        )
    except ClientError as error:
        code = error_code(error)
        if code == RULE_QUOTA_EXCEEDED:
            raise ControlPlaneRuleQuotaReached(
                f"the control-plane security group {cluster_group} is at its quota of inbound "
                "rules (60 per security group by default, 'Inbound or outbound rules per "
                "security group' in Service Quotas): end other sessions or raise the quota"
            ) from error
        if code != DUPLICATE_RULE:
            raise
        rule_id = _existing_rule(ec2, cluster_group, request.session_security_group_id)
        logger.info("control-plane ingress already authorized", extra={"ruleId": rule_id})
        return ControlPlaneIngress(rule_id=rule_id, cluster_security_group_id=cluster_group)
    rule_id = str(response["SecurityGroupRules"][0]["SecurityGroupRuleId"])
    logger.info(
        "authorized control-plane ingress",
        extra={"ruleId": rule_id, "clusterSecurityGroupId": cluster_group},
    )
    return ControlPlaneIngress(rule_id=rule_id, cluster_security_group_id=cluster_group)


def _existing_rule(ec2: Any, cluster_group: str, session_group: str) -> str:
    rules = describe_rules(ec2, [{"Name": "group-id", "Values": [cluster_group]}])
    for rule in rules:
        if (
            not rule.get("IsEgress")
            and referenced_group(rule) == session_group
            and rule.get("IpProtocol") == "tcp"
            and rule.get("FromPort") == HTTPS_PORT
            and rule.get("ToPort") == HTTPS_PORT
        ):
            return str(rule["SecurityGroupRuleId"])
    # AWS said Duplicate but shows no such rule: let the workflow's retry look again.
    raise RuntimeError(
        f"AWS reports the rule from {session_group} on {cluster_group} exists, but it "
        "cannot be found"
    )


@task_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """AuthorizeControlPlaneIngress."""
    request = AuthorizeControlPlaneIngressInput.from_event(event)
    return authorize_control_plane_ingress(
        request, stack_name=load_settings().stack_name, ec2=client("ec2")
    ).to_dict()

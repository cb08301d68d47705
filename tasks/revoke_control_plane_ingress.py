"""RevokeControlPlaneIngress (teardown): close the session's door on the control plane.

Finds the rules by their session and stack tags and, as a fallback for an untagged rule,
by the session group (of this stack) they refer to. Rules already gone, or never made,
are success. Another stack's rules, even for a session of the same name, are never
touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from tasks.common.aws import client
from tasks.common.models import require
from tasks.common.observability import error_code, logger, task_handler
from tasks.common.security_groups import RULE_GONE, find_session_groups
from tasks.common.session_resources import find_control_plane_rules
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
class RevokedRules:
    """The task's output."""

    revoked_rule_ids: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"revokedRuleIds": list(self.revoked_rule_ids)}


def revoke_control_plane_ingress(
    request: RevokeControlPlaneIngressInput, *, stack_name: str, ec2: Any
) -> RevokedRules:
    """Revoke every ingress rule on another group that lets this session's group in."""
    session_groups = {
        str(group["GroupId"]) for group in find_session_groups(ec2, request.session_id, stack_name)
    }
    revoked = []
    # The session group's own SSH rules are left to go with the group.
    for rule in find_control_plane_rules(ec2, request.session_id, stack_name, session_groups):
        rule_id, group_id = rule["SecurityGroupRuleId"], rule["GroupId"]
        try:
            ec2.revoke_security_group_ingress(GroupId=group_id, SecurityGroupRuleIds=[rule_id])
        except ClientError as error:
            if error_code(error) not in RULE_GONE:
                raise
            logger.info("rule already gone", extra={"ruleId": rule_id, "groupId": group_id})
            continue
        logger.info("revoked control-plane ingress", extra={"ruleId": rule_id, "groupId": group_id})
        revoked.append(rule_id)
    return RevokedRules(tuple(revoked))


@task_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """RevokeControlPlaneIngress."""
    request = RevokeControlPlaneIngressInput.from_event(event)
    return revoke_control_plane_ingress(
        request, stack_name=load_settings().stack_name, ec2=client("ec2")
    ).to_dict()

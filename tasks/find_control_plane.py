"""FindControlPlane: the cluster's VPC, API endpoint, and the group the session's rule goes on.

The narrowest door first: when one of the cluster's additional security groups
(``resourcesVpcConfig.securityGroupIds``, attached by EKS only to the control plane's
network interfaces) carries the tag ``fargate-bastion:control-plane`` = the cluster's
name, the rule goes there (``controlPlaneRuleScope`` ``control-plane-only``). Otherwise
it goes on the cluster security group, which EKS also attaches to managed nodes and
Fargate pods (``cluster-security-group``), and the ready document says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from tasks.common.aws import client
from tasks.common.errors import (
    ClusterNotFound,
    ClusterNotPrivate,
    ControlPlaneSecurityGroupNotFound,
)
from tasks.common.models import (
    CLUSTER_SECURITY_GROUP,
    CONTROL_PLANE_ONLY,
    ControlPlane,
    Session,
    require,
)
from tasks.common.observability import error_code, logger, task_handler
from tasks.common.security_groups import describe_groups
from tasks.common.tags import CONTROL_PLANE_GROUP_TAG
from tasks.common.validation import check_session_id

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

#: Clusters made by eksctl before EKS had cluster security groups carry these tags.
EKSCTL_LOGICAL_ID_TAG = "aws:cloudformation:logical-id"
EKSCTL_CONTROL_PLANE_LOGICAL_ID = "ControlPlaneSecurityGroup"
EKSCTL_CLUSTER_NAME_TAG = "alpha.eksctl.io/cluster-name"


@dataclass(frozen=True)
class FindControlPlaneInput:
    """The task's input."""

    session_id: str
    cluster: str

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> FindControlPlaneInput:
        session = Session.from_dict(require(event, "session"))
        return cls(
            session_id=check_session_id(require(event, "sessionId")), cluster=session.cluster
        )


def find_control_plane(request: FindControlPlaneInput, *, eks: Any, ec2: Any) -> ControlPlane:
    """Where the cluster's API endpoint lives and which group guards it."""
    try:
        cluster = eks.describe_cluster(name=request.cluster)["cluster"]
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            raise ClusterNotFound(
                f"no EKS cluster named {request.cluster!r} in {eks.meta.region_name}"
            ) from None
        raise
    vpc_config = cluster.get("resourcesVpcConfig", {})
    if vpc_config.get("endpointPrivateAccess") is not True:
        raise ClusterNotPrivate(
            f"cluster {request.cluster!r} has no private endpoint access; a bastion in its "
            "VPC cannot reach its API"
        )
    vpc_id = vpc_config.get("vpcId") or _vpc_of_subnets(ec2, vpc_config.get("subnetIds", []))
    group_id = vpc_config.get("clusterSecurityGroupId") or _eksctl_control_plane_group(
        ec2, request.cluster, vpc_id
    )
    marked = _marked_control_plane_groups(
        ec2, request.cluster, vpc_config.get("securityGroupIds") or []
    )
    return ControlPlane(
        cluster_security_group_id=group_id,
        vpc_id=vpc_id,
        endpoint_public_access=bool(vpc_config.get("endpointPublicAccess", False)),
        endpoint=str(cluster.get("endpoint") or ""),
        rule_security_group_id=marked[0] if marked else group_id,
        rule_scope=CONTROL_PLANE_ONLY if marked else CLUSTER_SECURITY_GROUP,
    )


def _marked_control_plane_groups(ec2: Any, cluster: str, additional: list[str]) -> list[str]:
    """The cluster's additional security groups the operator marked for bastions (sorted).

    Only groups the cluster itself lists count: the tag alone never makes a group a
    control-plane group.
    """
    if not additional:
        return []
    groups = describe_groups(
        ec2,
        [
            {"Name": "group-id", "Values": sorted(additional)},
            {"Name": f"tag:{CONTROL_PLANE_GROUP_TAG}", "Values": [cluster]},
        ],
    )
    return sorted(str(group["GroupId"]) for group in groups if group["GroupId"] in additional)


def _vpc_of_subnets(ec2: Any, subnet_ids: list[str]) -> str:
    # DescribeCluster always names the VPC on AWS; derive it for clients that do not.
    if not subnet_ids:
        raise ControlPlaneSecurityGroupNotFound("the cluster names neither a VPC nor subnets")
    subnets = ec2.describe_subnets(SubnetIds=subnet_ids[:1])["Subnets"]
    return str(subnets[0]["VpcId"])


def _eksctl_control_plane_group(ec2: Any, cluster: str, vpc_id: str) -> str:
    groups = describe_groups(
        ec2,
        [
            {"Name": "vpc-id", "Values": [vpc_id]},
            {"Name": f"tag:{EKSCTL_LOGICAL_ID_TAG}", "Values": [EKSCTL_CONTROL_PLANE_LOGICAL_ID]},
            {"Name": f"tag:{EKSCTL_CLUSTER_NAME_TAG}", "Values": [cluster]},
        ],
    )
    if len(groups) != 1:
        found = ", ".join(group["GroupId"] for group in groups) or "none"
        raise ControlPlaneSecurityGroupNotFound(
            f"cluster {cluster!r} reports no clusterSecurityGroupId, and exactly one eksctl "
            f"ControlPlaneSecurityGroup in {vpc_id} was expected (found: {found})"
        )
    logger.info(
        "using the eksctl control-plane security group", extra={"groupId": groups[0]["GroupId"]}
    )
    return str(groups[0]["GroupId"])


@task_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """FindControlPlane."""
    request = FindControlPlaneInput.from_event(event)
    control_plane = find_control_plane(request, eks=client("eks"), ec2=client("ec2"))
    logger.info("found the control plane", extra=control_plane.to_dict())
    if control_plane.rule_scope == CLUSTER_SECURITY_GROUP:
        logger.warning(
            "no control-plane-only security group is marked for bastions: the rule goes on "
            "the cluster security group, which also reaches nodes and Fargate pods on 443",
            extra={"cluster": request.cluster, "markWith": CONTROL_PLANE_GROUP_TAG},
        )
    return control_plane.to_dict()

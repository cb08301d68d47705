"""FindControlPlane: the cluster's VPC and its control-plane security group."""

from __future__ import annotations

import pytest

from tasks.common.errors import (
    ClusterNotFound,
    ClusterNotPrivate,
    ControlPlaneSecurityGroupNotFound,
    InvalidRequest,
)
from tasks.common.models import CLUSTER_SECURITY_GROUP, CONTROL_PLANE_ONLY, ControlPlane
from tasks.find_control_plane import FindControlPlaneInput, find_control_plane, handler
from tests.unit.support import LambdaContextStub, Network, client, load_event

pytestmark = pytest.mark.unit


def find(cluster: str) -> ControlPlane:
    request = FindControlPlaneInput(session_id="s-0001", cluster=cluster)
    return find_control_plane(request, eks=client("eks"), ec2=client("ec2"))


def test_reads_the_cluster_security_group_from_describe_cluster(
    local_aws, context: LambdaContextStub
) -> None:
    # GIVEN a private cluster as EKS creates it, with its cluster security group
    cluster = local_aws.seed_cluster("demo", endpoint_private=True, endpoint_public=False)
    # WHEN the function runs on the event Step Functions sends
    output = handler(load_event("find_control_plane"), context)
    # THEN it names that group, the cluster's VPC and endpoint, and says the rule goes on
    # the cluster security group (the cluster has no control-plane-only group)
    endpoint = client("eks").describe_cluster(name="demo")["cluster"]["endpoint"]
    assert output == {
        "clusterSecurityGroupId": cluster.cluster_security_group_id,
        "vpcId": cluster.vpc_id,
        "endpointPublicAccess": False,
        "endpoint": endpoint,
        "endpointHost": endpoint.removeprefix("https://").rstrip("/"),
        "controlPlaneSecurityGroupId": cluster.cluster_security_group_id,
        "controlPlaneRuleScope": CLUSTER_SECURITY_GROUP,
    }
    assert output["endpointHost"].endswith(".eks.amazonaws.com")


def _cluster_with_additional_groups(local_aws, name: str, groups: list[str]) -> str:
    """A private cluster with ``groups`` as its additional (control-plane-only) groups;
    returns its cluster security group."""
    seeded = local_aws.seed_cluster(f"{name}-net")
    client("eks").create_cluster(
        name=name,
        roleArn="arn:aws:iam::123456789012:role/eks",
        resourcesVpcConfig={
            "subnetIds": list(seeded.private_subnet_ids),
            "securityGroupIds": groups,
            "endpointPrivateAccess": True,
            "endpointPublicAccess": False,
        },
    )
    return str(
        client("eks").describe_cluster(name=name)["cluster"]["resourcesVpcConfig"][
            "clusterSecurityGroupId"
        ]
    )


def _group(local_aws, name: str, tags: dict[str, str]) -> str:
    ec2 = client("ec2")
    vpc_id = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    listed = [{"Key": key, "Value": value} for key, value in {"Name": name, **tags}.items()]
    spec = [{"ResourceType": "security-group", "Tags": listed}]
    return str(
        ec2.create_security_group(
            GroupName=name, Description=name, VpcId=vpc_id, TagSpecifications=spec
        )["GroupId"]
    )


def test_the_rule_goes_on_the_marked_control_plane_only_group(local_aws) -> None:
    # GIVEN a cluster with two additional groups, one marked for bastions by the operator
    marked = _group(local_aws, "cp-only", {"fargate-bastion:control-plane": "orders"})
    unmarked = _group(local_aws, "cp-other", {})
    cluster_group = _cluster_with_additional_groups(local_aws, "orders", [unmarked, marked])
    # WHEN the control plane is looked up
    control_plane = find("orders")
    # THEN the rule goes on the marked group, and the scope says it reaches the control
    # plane only; the cluster security group is still reported as such
    assert control_plane.security_group_id == marked
    assert control_plane.rule_scope == CONTROL_PLANE_ONLY
    assert control_plane.cluster_security_group_id == cluster_group
    assert control_plane.to_dict()["controlPlaneSecurityGroupId"] == marked


def test_an_unmarked_or_foreign_group_is_never_chosen(local_aws) -> None:
    # GIVEN additional groups that are not marked for this cluster (one is marked for
    # another cluster), and a marked group that is NOT among the cluster's groups
    other_cluster = _group(local_aws, "cp-b", {"fargate-bastion:control-plane": "billing"})
    unmarked = _group(local_aws, "cp-c", {})
    _group(local_aws, "not-attached", {"fargate-bastion:control-plane": "orders"})
    cluster_group = _cluster_with_additional_groups(local_aws, "orders", [other_cluster, unmarked])
    # WHEN the control plane is looked up
    control_plane = find("orders")
    # THEN the cluster security group is used, and the scope says so
    assert control_plane.security_group_id == cluster_group
    assert control_plane.rule_scope == CLUSTER_SECURITY_GROUP


@pytest.mark.parametrize("session_id", ["*", "s?", "../x", "", "sessi\u00f6n"])
def test_a_hostile_session_id_is_refused(session_id: str) -> None:
    with pytest.raises(InvalidRequest, match="^sessionId: "):
        FindControlPlaneInput.from_event(
            {**load_event("find_control_plane"), "sessionId": session_id}
        )


def test_reports_a_public_endpoint_too(local_aws) -> None:
    cluster = local_aws.seed_cluster("both", endpoint_private=True, endpoint_public=True)
    control_plane = find("both")
    assert control_plane.endpoint_public_access is True
    assert control_plane.cluster_security_group_id == cluster.cluster_security_group_id


def test_falls_back_to_the_eksctl_control_plane_group(network: Network, eks_cluster: str) -> None:
    # GIVEN a cluster that reports no clusterSecurityGroupId (plain moto's EKS does not),
    # and the group eksctl tags as the cluster's control-plane group, plus a decoy
    ec2 = client("ec2")
    eksctl_tags = [
        {"Key": "aws:cloudformation:logical-id", "Value": "ControlPlaneSecurityGroup"},
        {"Key": "alpha.eksctl.io/cluster-name", "Value": "demo"},
    ]
    group_id = ec2.create_security_group(
        GroupName="eksctl-demo-cluster-ControlPlaneSecurityGroup",
        Description="Communication between the control plane and worker nodegroups",
        VpcId=network.vpc_id,
        TagSpecifications=[{"ResourceType": "security-group", "Tags": eksctl_tags}],
    )["GroupId"]
    ec2.create_security_group(
        GroupName="eksctl-other-cluster-ControlPlaneSecurityGroup",
        Description="another cluster's",
        VpcId=network.vpc_id,
        TagSpecifications=[
            {
                "ResourceType": "security-group",
                "Tags": [eksctl_tags[0], {"Key": "alpha.eksctl.io/cluster-name", "Value": "other"}],
            }
        ],
    )
    # WHEN the control plane is looked up
    control_plane = find("demo")
    # THEN the eksctl group is used, in the VPC of the cluster's subnets
    assert (control_plane.cluster_security_group_id, control_plane.vpc_id) == (
        group_id,
        network.vpc_id,
    )
    assert control_plane.security_group_id == group_id
    assert control_plane == ControlPlane.from_dict(control_plane.to_dict())


def test_no_group_at_all_is_an_error(network: Network, eks_cluster: str) -> None:
    with pytest.raises(ControlPlaneSecurityGroupNotFound, match="found: none"):
        find("demo")


def test_an_unknown_cluster_is_cluster_not_found(network: Network) -> None:
    with pytest.raises(ClusterNotFound, match="no EKS cluster named 'ghost' in us-east-1"):
        find("ghost")


def test_a_cluster_without_private_endpoint_is_not_private(network: Network) -> None:
    client("eks").create_cluster(
        name="public",
        roleArn="arn:aws:iam::123456789012:role/eks",
        resourcesVpcConfig={
            "subnetIds": list(network.subnet_ids),
            "endpointPrivateAccess": False,
            "endpointPublicAccess": True,
        },
    )
    with pytest.raises(ClusterNotPrivate, match="'public' has no private endpoint"):
        find("public")

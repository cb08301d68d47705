"""FindControlPlane: the cluster's VPC and its control-plane security group."""

from __future__ import annotations

import pytest

from tasks.common.errors import (
    ClusterNotFound,
    ClusterNotPrivate,
    ControlPlaneSecurityGroupNotFound,
)
from tasks.common.models import ControlPlane
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
    # THEN it names that group and the cluster's VPC
    assert output == {
        "clusterSecurityGroupId": cluster.cluster_security_group_id,
        "vpcId": cluster.vpc_id,
        "endpointPublicAccess": False,
    }


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
    assert control_plane == ControlPlane(group_id, network.vpc_id, False)


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

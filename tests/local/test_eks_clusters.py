"""EKS clusters carry the VPC config FindControlPlane reads; seed_cluster builds one."""

from __future__ import annotations

import re

import pytest
from botocore.exceptions import ClientError

from bastion.local import LocalAws
from tests.local.conftest import create_network, role_arn

pytestmark = pytest.mark.local


def test_seed_cluster_builds_a_private_cluster_and_its_network(aws: LocalAws) -> None:
    ec2, eks = aws.client("ec2"), aws.client("eks")

    cluster = aws.seed_cluster("demo", endpoint_private=True, endpoint_public=False)

    # the cluster's VPC config, as FindControlPlane reads it
    config = eks.describe_cluster(name="demo")["cluster"]["resourcesVpcConfig"]
    assert config["vpcId"] == cluster.vpc_id
    assert config["clusterSecurityGroupId"] == cluster.cluster_security_group_id
    assert set(config["subnetIds"]) == {*cluster.public_subnet_ids, *cluster.private_subnet_ids}
    assert config["securityGroupIds"] == []
    assert (config["endpointPrivateAccess"], config["endpointPublicAccess"]) == (True, False)
    assert config["publicAccessCidrs"] == ["0.0.0.0/0"]
    assert cluster.arn.endswith(":cluster/demo")
    # the cluster security group: named, tagged and self-referencing as EKS makes it
    group = ec2.describe_security_groups(GroupIds=[cluster.cluster_security_group_id])[
        "SecurityGroups"
    ][0]
    assert re.fullmatch(r"eks-cluster-sg-demo-\d+", group["GroupName"])
    tags = {tag["Key"]: tag["Value"] for tag in group["Tags"]}
    assert tags["aws:eks:cluster-name"] == "demo"
    assert tags["kubernetes.io/cluster/demo"] == "owned"
    assert group["IpPermissions"][0]["UserIdGroupPairs"][0]["GroupId"] == group["GroupId"]
    # the network: DNS on, two public subnets routed to an internet gateway, two private ones
    assert ec2.describe_vpc_attribute(VpcId=cluster.vpc_id, Attribute="enableDnsHostnames")[
        "EnableDnsHostnames"
    ]["Value"]
    public = ec2.describe_subnets(SubnetIds=list(cluster.public_subnet_ids))["Subnets"]
    assert all(subnet["MapPublicIpOnLaunch"] for subnet in public)
    assert len({subnet["AvailabilityZone"] for subnet in public}) == 2
    routes = ec2.describe_route_tables(
        Filters=[{"Name": "association.subnet-id", "Values": [cluster.public_subnet_ids[0]]}]
    )["RouteTables"][0]["Routes"]
    assert any(route.get("GatewayId", "").startswith("igw-") for route in routes)
    private = ec2.describe_subnets(SubnetIds=list(cluster.private_subnet_ids))["Subnets"]
    assert not any(subnet["MapPublicIpOnLaunch"] for subnet in private)


def test_create_cluster_fills_the_defaults_and_update_merges(aws: LocalAws) -> None:
    eks = aws.client("eks")
    network = create_network(aws)
    eks.create_cluster(
        name="plain", roleArn=role_arn(aws), resourcesVpcConfig={"subnetIds": [network.subnet_id]}
    )

    created = eks.describe_cluster(name="plain")["cluster"]["resourcesVpcConfig"]
    eks.update_cluster_config(name="plain", resourcesVpcConfig={"endpointPrivateAccess": True})
    updated = eks.describe_cluster(name="plain")["cluster"]["resourcesVpcConfig"]

    assert (created["endpointPublicAccess"], created["endpointPrivateAccess"]) == (True, False)
    assert created["vpcId"] == network.vpc_id
    assert updated == {**created, "endpointPrivateAccess": True}


def test_a_deleted_cluster_is_not_found_and_its_group_is_gone(aws: LocalAws) -> None:
    eks, ec2 = aws.client("eks"), aws.client("ec2")
    cluster = aws.seed_cluster("short-lived")

    eks.delete_cluster(name="short-lived")

    with pytest.raises(ClientError) as missing:
        eks.describe_cluster(name="short-lived")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    remaining = ec2.describe_security_groups(
        Filters=[{"Name": "group-id", "Values": [cluster.cluster_security_group_id]}]
    )["SecurityGroups"]
    assert remaining == []
    assert ec2.describe_vpcs(VpcIds=[cluster.vpc_id])["Vpcs"]  # the network itself stays

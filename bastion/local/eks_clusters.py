"""EKS clusters as FindControlPlane reads them, and a realistic private cluster to test on.

Gaps filled (moto 5.2.5): ``DescribeCluster`` has no ``clusterSecurityGroupId`` and no
``vpcId``; the endpoint access flags are missing unless passed; ``UpdateClusterConfig``
replaces the whole VPC config. Here ``CreateCluster`` creates the cluster security group
(``eks-cluster-sg-<name>-<digits>``, tagged and with its self-referencing rule) in the
subnets' VPC and fills AWS's defaults, updates merge, and ``DeleteCluster`` removes the
group with the cluster, as EKS does.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from bastion.local.active import Controls, current
from bastion.local.patching import replace_attribute

CLUSTER_SECURITY_GROUP_DESCRIPTION = (
    "EKS created security group applied to ENI that is attached to EKS Control Plane "
    "master nodes, as well as any managed workloads."
)


@dataclass(frozen=True)
class SeededCluster:
    """A private EKS cluster and its network, as :meth:`LocalAws.seed_cluster` built them."""

    name: str
    vpc_id: str
    public_subnet_ids: tuple[str, ...]
    private_subnet_ids: tuple[str, ...]
    cluster_security_group_id: str
    arn: str


def _ec2_backend(controls: Controls) -> Any:
    from moto.ec2.models import ec2_backends

    return ec2_backends[controls.account_id][controls.region]


def _create_cluster_security_group(ec2: Any, cluster_name: str, vpc_id: str) -> str:
    # EKS suffixes the name with a number; random digits keep recreated clusters apart.
    suffix = "".join(random.choices("0123456789", k=10))  # noqa: S311 - a name, not a secret
    name = f"eks-cluster-sg-{cluster_name}-{suffix}"
    group = ec2.create_security_group(
        name,
        CLUSTER_SECURITY_GROUP_DESCRIPTION,
        vpc_id=vpc_id,
        tags={
            "Name": name,
            "aws:eks:cluster-name": cluster_name,
            f"kubernetes.io/cluster/{cluster_name}": "owned",
        },
    )
    # The default rule: everything the cluster's own ENIs and nodes send each other.
    ec2.authorize_security_group_ingress(
        group.id, "-1", None, None, [], source_groups=[{"GroupId": group.id}]
    )
    return str(group.id)


def _complete_vpc_config(controls: Controls, cluster: Any) -> None:
    config = dict(cluster.resources_vpc_config or {})
    config.setdefault("subnetIds", [])
    config.setdefault("securityGroupIds", [])
    config.setdefault("endpointPublicAccess", True)
    config.setdefault("endpointPrivateAccess", False)
    config.setdefault("publicAccessCidrs", ["0.0.0.0/0"])
    ec2 = _ec2_backend(controls)
    if config["subnetIds"] and "vpcId" not in config:
        config["vpcId"] = ec2.get_subnet(config["subnetIds"][0]).vpc_id
    if "vpcId" in config and "clusterSecurityGroupId" not in config:
        config["clusterSecurityGroupId"] = _create_cluster_security_group(
            ec2, cluster.name, config["vpcId"]
        )
    cluster.resources_vpc_config = config


def _create_cluster(original: Any) -> Any:
    def create_cluster(self: Any, *args: Any, **kwargs: Any) -> Any:
        cluster = original(self, *args, **kwargs)
        controls = current()
        if controls is not None:
            _complete_vpc_config(controls, cluster)
        return cluster

    return create_cluster


def _update_cluster_config(original: Any) -> Any:
    def update_cluster_config(
        self: Any, name: str, resources_vpc_config: Any, **kwargs: Any
    ) -> Any:
        cluster = self.clusters.get(name)
        if current() is not None and cluster is not None and resources_vpc_config:
            resources_vpc_config = {**cluster.resources_vpc_config, **resources_vpc_config}
        return original(self, name, resources_vpc_config, **kwargs)

    return update_cluster_config


def _delete_cluster(original: Any) -> Any:
    from moto.core.exceptions import ServiceException

    def delete_cluster(self: Any, name: str) -> Any:
        cluster = original(self, name)
        controls = current()
        group_id = (cluster.resources_vpc_config or {}).get("clusterSecurityGroupId")
        if controls is not None and group_id:
            try:
                _ec2_backend(controls).delete_security_group(group_id=group_id)
            except ServiceException:
                pass  # still referenced or attached: EKS leaves such a group behind too
        return cluster

    return delete_cluster


def install() -> None:
    """Patch EKS cluster creation, update and deletion."""
    from moto.eks.models import EKSBackend

    replace_attribute(EKSBackend, "create_cluster", _create_cluster)
    replace_attribute(EKSBackend, "update_cluster_config", _update_cluster_config)
    replace_attribute(EKSBackend, "delete_cluster", _delete_cluster)


def _cluster_role_arn(iam: Any, role_name: str) -> str:
    trust = (
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
        '"Principal":{"Service":"eks.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
    )
    try:
        role = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=trust)
    except iam.exceptions.EntityAlreadyExistsException:
        role = iam.get_role(RoleName=role_name)  # the same cluster name seeded again
    return str(role["Role"]["Arn"])


def seed_cluster(
    clients: Any,
    name: str,
    *,
    endpoint_private: bool = True,
    endpoint_public: bool = False,
    cidr_octet: int = 0,
    beside: SeededCluster | None = None,
) -> SeededCluster:
    """Build a private EKS cluster through the public APIs.

    A VPC with DNS support and hostnames, two public subnets (public IPs on launch, a route
    to an internet gateway) and two private subnets across two zones, an IAM role, and the
    cluster itself in all four subnets. ``clients(service)`` returns a boto3 client.
    A cluster ``beside`` another shares that cluster's VPC and subnets instead.
    """
    ec2, eks, iam = clients("ec2"), clients("eks"), clients("iam")
    if beside is not None:
        return _create_cluster_in(
            eks,
            iam,
            name,
            beside.vpc_id,
            beside.public_subnet_ids,
            beside.private_subnet_ids,
            endpoint_private=endpoint_private,
            endpoint_public=endpoint_public,
        )
    region = ec2.meta.region_name
    prefix = f"10.{cidr_octet}"
    vpc_id = ec2.create_vpc(CidrBlock=f"{prefix}.0.0/16")["Vpc"]["VpcId"]
    ec2.create_tags(Resources=[vpc_id], Tags=[{"Key": "Name", "Value": f"{name}-vpc"}])
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsSupport={"Value": True})
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
    gateway_id = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=gateway_id, VpcId=vpc_id)
    public_routes = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
    ec2.create_route(
        RouteTableId=public_routes, DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway_id
    )
    zones = (f"{region}a", f"{region}b")
    public_subnets, private_subnets = [], []
    for index, zone in enumerate(zones):
        public = ec2.create_subnet(
            VpcId=vpc_id, CidrBlock=f"{prefix}.{index}.0/24", AvailabilityZone=zone
        )["Subnet"]["SubnetId"]
        ec2.modify_subnet_attribute(SubnetId=public, MapPublicIpOnLaunch={"Value": True})
        ec2.associate_route_table(RouteTableId=public_routes, SubnetId=public)
        ec2.create_tags(Resources=[public], Tags=[{"Key": "kubernetes.io/role/elb", "Value": "1"}])
        private = ec2.create_subnet(
            VpcId=vpc_id, CidrBlock=f"{prefix}.{index + 100}.0/24", AvailabilityZone=zone
        )["Subnet"]["SubnetId"]
        ec2.create_tags(
            Resources=[private], Tags=[{"Key": "kubernetes.io/role/internal-elb", "Value": "1"}]
        )
        public_subnets.append(public)
        private_subnets.append(private)
    return _create_cluster_in(
        eks,
        iam,
        name,
        vpc_id,
        tuple(public_subnets),
        tuple(private_subnets),
        endpoint_private=endpoint_private,
        endpoint_public=endpoint_public,
    )


def _create_cluster_in(
    eks: Any,
    iam: Any,
    name: str,
    vpc_id: str,
    public_subnets: tuple[str, ...],
    private_subnets: tuple[str, ...],
    *,
    endpoint_private: bool,
    endpoint_public: bool,
) -> SeededCluster:
    role_arn = _cluster_role_arn(iam, f"{name}-eks-cluster-role")
    eks.create_cluster(
        name=name,
        roleArn=role_arn,
        resourcesVpcConfig={
            "subnetIds": [*private_subnets, *public_subnets],
            "endpointPublicAccess": endpoint_public,
            "endpointPrivateAccess": endpoint_private,
        },
    )
    cluster = eks.describe_cluster(name=name)["cluster"]
    return SeededCluster(
        name=name,
        vpc_id=vpc_id,
        public_subnet_ids=public_subnets,
        private_subnet_ids=private_subnets,
        cluster_security_group_id=cluster["resourcesVpcConfig"]["clusterSecurityGroupId"],
        arn=cluster["arn"],
    )


def add_unrelated_inbound_rules(ec2: Any, group_id: str, count: int) -> None:
    """Add ``count`` inbound HTTPS rules from distinct /32s to a group, as other tools
    would (a VPN's addresses): they use up its rule quota."""
    if count <= 0:
        return
    ec2.authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "IpRanges": [
                    {"CidrIp": f"198.18.{n // 256}.{n % 256}/32", "Description": "office VPN"}
                    for n in range(count)
                ],
            }
        ],
    )

"""EC2 networking as the bastion's teardown meets it on AWS.

Gaps filled (moto 5.2.5):

* ``DeleteSecurityGroup`` never answers ``DependencyViolation``. Here it does while a
  network interface uses the group or another group's rule references it.
* A Fargate task's network interface is released late on AWS: after its task stopped,
  ``DeleteSecurityGroup`` keeps failing for a while.
  :class:`~bastion.local.ec2_control.Ec2Control` reproduces that with a count of failed
  attempts, or a time (workflow seconds) after the stop.
* Rule matching compares the Description of a group pair, so authorizing the same pair
  again is not a duplicate and revoking without the Description is "not found". Here
  Description is ignored, as on AWS; a group-pair rule's Description is also reported by
  ``DescribeSecurityGroupRules``.
* Network interfaces in a VPC without DNS hostnames have no private DNS name attribute
  (ECS's RunTask crashes on it), and ECS's interfaces get addresses outside their subnet.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from bastion.local.active import current
from bastion.local.patching import replace_attribute


def _group_of(backend: Any, name: str | None, group_id: str | None) -> Any:
    if group_id:
        return backend.get_security_group_from_id(group_id)
    if name:
        return backend.get_security_group_by_name_or_id(name)
    return None


def _interfaces_using(backend: Any, group_id: str) -> list[Any]:
    return [
        eni
        for eni in list(backend.enis.values())
        if any(group.id == group_id for group in eni.group_set)
    ]


def _groups_referencing(backend: Any, group_id: str) -> list[str]:
    referencing = []
    for groups in list(backend.groups.values()):
        for group in list(groups.values()):
            if group.id == group_id:
                continue  # a group's rules about itself do not keep it alive
            rules = [*group.ingress_rules, *group.egress_rules]
            if any((rule.source_group or {}).get("GroupId") == group_id for rule in rules):
                referencing.append(group.id)
    return referencing


def _delete_security_group(original: Any) -> Any:
    from moto.ec2.exceptions import DependencyViolationError

    def delete_security_group(
        self: Any, name: str | None = None, group_id: str | None = None
    ) -> Any:
        controls = current()
        group = _group_of(self, name, group_id) if controls else None
        if controls is None or group is None:
            return original(self, name=name, group_id=group_id)
        controls.ec2.release_due(self, controls.time_scale)
        interfaces = _interfaces_using(self, group.id)
        if interfaces:
            for eni in interfaces:
                controls.ec2.count_blocked_attempt(self, eni.id)
            raise DependencyViolationError(f"resource {group.id} has a dependent object")
        if _groups_referencing(self, group.id):
            raise DependencyViolationError(f"resource {group.id} has a dependent object")
        return original(self, name=name, group_id=group_id)

    return delete_security_group


def _pair_identity(source_group: dict[str, Any] | None) -> tuple[Any, ...]:
    source_group = source_group or {}
    return (source_group.get("GroupId"), source_group.get("UserId"))


def _rule_identity(rule: Any) -> tuple[Any, ...]:
    ports = (None, None) if rule.ip_protocol == "-1" else (rule.from_port, rule.to_port)
    return (
        rule.ip_protocol,
        *ports,
        rule.ip_range.get("CidrIp"),
        rule.ip_range.get("CidrIpv6"),
        _pair_identity(rule.source_group),
        rule.prefix_list_id,
    )


def _rule_equality(original: Any) -> Any:
    def equals(self: Any, other: Any) -> bool:
        if current() is None:
            return bool(original(self, other))
        return _rule_identity(self) == _rule_identity(other)

    return equals


def _rule_description(original: property) -> property:
    def description(self: Any) -> str | None:
        own = original.fget(self) if original.fget else None
        if current() is None or own:
            return own
        return (self.source_group or {}).get("Description")

    return property(description)


def _address_outside(subnet: Any, address: Any) -> bool:
    if not isinstance(address, str) or not address:
        return False
    try:
        return ipaddress.ip_address(address) not in ipaddress.ip_network(subnet.cidr_block)
    except ValueError:
        return False


def _create_network_interface(original: Any) -> Any:
    from moto.ec2.utils import generate_dns_from_ip

    def create_network_interface(
        self: Any, subnet: Any, private_ip_address: Any, *args: Any, **kwargs: Any
    ) -> Any:
        if current() is None:
            return original(self, subnet, private_ip_address, *args, **kwargs)
        subnet_object = self.get_subnet(subnet) if isinstance(subnet, str) else subnet
        if _address_outside(subnet_object, private_ip_address):
            # moto's ECS asks for a random address anywhere; AWS takes one from the subnet.
            private_ip_address = None
        eni = original(self, subnet, private_ip_address, *args, **kwargs)
        if not getattr(eni, "private_dns_name", None):
            # AWS names every interface, whatever the VPC's DNS hostnames setting.
            eni.private_dns_name = generate_dns_from_ip(eni.private_ip_address)
        return eni

    return create_network_interface


def install() -> None:
    """Patch security group deletion, rule matching and interface creation."""
    from moto.ec2.models.elastic_network_interfaces import NetworkInterfaceBackend
    from moto.ec2.models.security_groups import SecurityGroupBackend, SecurityGroupRule

    replace_attribute(SecurityGroupBackend, "delete_security_group", _delete_security_group)
    replace_attribute(SecurityGroupRule, "__eq__", _rule_equality)
    replace_attribute(SecurityGroupRule, "description", _rule_description)
    replace_attribute(
        NetworkInterfaceBackend, "create_network_interface", _create_network_interface
    )

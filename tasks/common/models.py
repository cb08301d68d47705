"""Typed models shared across task boundaries.

The state machine's data is JSON with camelCase keys; these frozen dataclasses are
its Python side. ``from_dict`` accepts exactly what ``to_dict`` produces.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from tasks.common.access_modes import ACCESS_MODES, PUBLIC
from tasks.common.errors import StepInputInvalid
from tasks.common.validation import check_session_id


def parse_timestamp(value: str) -> datetime:
    """Parse an ISO 8601 timestamp (``Z`` or an offset) into an aware UTC datetime."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_timestamp(moment: datetime) -> str:
    """Format an aware datetime as ``YYYY-MM-DDTHH:MM:SSZ`` (UTC, whole seconds)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def require(data: Any, key: str, *, within: str = "") -> Any:
    """The value of ``key`` in a task's input (or in its part ``within``, such as an
    earlier step's result), or StepInputInvalid naming what is missing."""
    try:
        return data[key]
    except (KeyError, TypeError, IndexError):
        name = f"{within}.{key}" if within else key
        raise StepInputInvalid(f"the step's input has no {name}") from None


@dataclass(frozen=True)
class Session:
    """A validated session request: what ValidateRequest returns and every step reads."""

    session_id: str
    cluster: str
    ssh_public_key: str
    allowed_cidrs: tuple[str, ...]
    duration_minutes: int
    requested_by: str
    started_at: str
    expires_at: str
    #: The latest its expiry may be extended to: its start plus the stack's
    #: MaxDurationMinutes when it was validated (its own expiry when not given). The
    #: bastion container exits at this time whatever happens to the workflow.
    latest_expires_at: str = ""
    #: How users reach the bastion: public (its IP, SSH from allowed_cidrs) or private
    #: (Session Manager; no public IP, no ingress rule, allowed_cidrs empty).
    access_mode: str = PUBLIC
    #: The requester's ``aws:userid`` (the API's signed caller); the Session Manager grant
    #: lets a caller onto a task whose requester-id tag is their own.
    requester_id: str = ""

    @property
    def latest_expiry(self) -> str:
        """The latest the session may be extended to (at least its own expiry)."""
        return self.latest_expires_at or self.expires_at

    def to_dict(self) -> dict[str, Any]:
        return {
            "sessionId": self.session_id,
            "cluster": self.cluster,
            "sshPublicKey": self.ssh_public_key,
            "allowedCidrs": list(self.allowed_cidrs),
            "durationMinutes": self.duration_minutes,
            "requestedBy": self.requested_by,
            "startedAt": self.started_at,
            "expiresAt": self.expires_at,
            "latestExpiresAt": self.latest_expiry,
            "accessMode": self.access_mode,
            "requesterId": self.requester_id,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Session:
        def field(key: str) -> Any:
            return require(data, key, within="session")

        return cls(
            session_id=check_session_id(field("sessionId")),
            cluster=str(field("cluster")),
            ssh_public_key=str(field("sshPublicKey")),
            allowed_cidrs=tuple(field("allowedCidrs")),
            duration_minutes=int(field("durationMinutes")),
            requested_by=str(field("requestedBy")),
            started_at=str(field("startedAt")),
            expires_at=str(field("expiresAt")),
            latest_expires_at=str(data.get("latestExpiresAt") or ""),
            access_mode=_access_mode(data.get("accessMode", PUBLIC)),
            requester_id=_text(data.get("requesterId", ""), "requesterId"),
        )


def _access_mode(value: Any) -> str:
    if value not in ACCESS_MODES:
        raise StepInputInvalid(f"the step's input has no session.accessMode of {ACCESS_MODES}")
    return str(value)


def _text(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise StepInputInvalid(f"the step's input has no text session.{key}")
    return value


#: Where the session's control-plane rule lands (the ready document's ``controlPlaneRuleScope``).
#: A security group that sits only on the control plane's network interfaces: one of the
#: cluster's additional security groups the operator marked for bastions.
CONTROL_PLANE_ONLY = "control-plane-only"
#: The EKS cluster security group: EKS attaches it to the control plane's interfaces and
#: also to managed node groups' nodes and Fargate pods, so the rule reaches them on 443 too.
CLUSTER_SECURITY_GROUP = "cluster-security-group"
RULE_SCOPES = (CONTROL_PLANE_ONLY, CLUSTER_SECURITY_GROUP)


#: A DNS host name, as EKS spells its endpoints' (upper-case letters kept as they are).
HOST_NAME_PATTERN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")


def endpoint_host(endpoint: str) -> str:
    """The host name of the cluster's API endpoint URL (``https://<host>``), or ``""``
    when there is no endpoint; ValueError when the URL names no plain host name."""
    if not endpoint:
        return ""
    host = urlsplit(endpoint).netloc.rsplit("@", 1)[-1].split(":", 1)[0]
    if not HOST_NAME_PATTERN.fullmatch(host):
        raise ValueError(f"the cluster endpoint {endpoint!r} names no host")
    return host


@dataclass(frozen=True)
class ControlPlane:
    """Where the cluster's API endpoint lives: what FindControlPlane returns.

    ``cluster_security_group_id`` is the cluster security group (as before);
    ``rule_security_group_id`` is the group the session's rule goes on, which is a
    control-plane-only group when the cluster has one marked for bastions, and
    ``rule_scope`` says which of the two it is.
    """

    cluster_security_group_id: str
    vpc_id: str
    endpoint_public_access: bool
    #: The cluster's API endpoint URL, as DescribeCluster reports it.
    endpoint: str = ""
    #: The group the control-plane rule goes on; the cluster security group when empty.
    rule_security_group_id: str = ""
    rule_scope: str = CLUSTER_SECURITY_GROUP

    def __post_init__(self) -> None:
        if self.rule_scope not in RULE_SCOPES:
            raise ValueError(f"controlPlaneRuleScope must be one of {RULE_SCOPES}")

    @property
    def security_group_id(self) -> str:
        """The group the session's control-plane rule goes on."""
        return self.rule_security_group_id or self.cluster_security_group_id

    @property
    def endpoint_host(self) -> str:
        """The API endpoint's host name (what a tunnel may forward to, on 443)."""
        return endpoint_host(self.endpoint)

    def to_dict(self) -> dict[str, Any]:
        return {
            "clusterSecurityGroupId": self.cluster_security_group_id,
            "vpcId": self.vpc_id,
            "endpointPublicAccess": self.endpoint_public_access,
            "endpoint": self.endpoint,
            "endpointHost": self.endpoint_host,
            "controlPlaneSecurityGroupId": self.security_group_id,
            "controlPlaneRuleScope": self.rule_scope,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ControlPlane:
        cluster_group = str(require(data, "clusterSecurityGroupId"))
        return cls(
            cluster_security_group_id=cluster_group,
            vpc_id=str(require(data, "vpcId")),
            endpoint_public_access=bool(data.get("endpointPublicAccess", False)),
            endpoint=str(data.get("endpoint") or ""),
            rule_security_group_id=str(data.get("controlPlaneSecurityGroupId") or ""),
            rule_scope=str(data.get("controlPlaneRuleScope") or CLUSTER_SECURITY_GROUP),
        )

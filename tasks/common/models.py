"""Typed models shared across task boundaries.

The state machine's data is JSON with camelCase keys; these frozen dataclasses are
its Python side. ``from_dict`` accepts exactly what ``to_dict`` produces.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


def parse_timestamp(value: str) -> datetime:
    """Parse an ISO 8601 timestamp (``Z`` or an offset) into an aware UTC datetime."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_timestamp(moment: datetime) -> str:
    """Format an aware datetime as ``YYYY-MM-DDTHH:MM:SSZ`` (UTC, whole seconds)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def require(event: Mapping[str, Any], key: str) -> Any:
    """The value of ``key`` in a task's input, or a clear KeyError naming it."""
    try:
        return event[key]
    except (KeyError, TypeError):
        raise KeyError(f"task input is missing {key!r}") from None


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
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Session:
        return cls(
            session_id=str(require(data, "sessionId")),
            cluster=str(require(data, "cluster")),
            ssh_public_key=str(require(data, "sshPublicKey")),
            allowed_cidrs=tuple(require(data, "allowedCidrs")),
            duration_minutes=int(require(data, "durationMinutes")),
            requested_by=str(require(data, "requestedBy")),
            started_at=str(require(data, "startedAt")),
            expires_at=str(require(data, "expiresAt")),
        )


@dataclass(frozen=True)
class ControlPlane:
    """Where the cluster's API endpoint lives: what FindControlPlane returns."""

    cluster_security_group_id: str
    vpc_id: str
    endpoint_public_access: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "clusterSecurityGroupId": self.cluster_security_group_id,
            "vpcId": self.vpc_id,
            "endpointPublicAccess": self.endpoint_public_access,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ControlPlane:
        return cls(
            cluster_security_group_id=str(require(data, "clusterSecurityGroupId")),
            vpc_id=str(require(data, "vpcId")),
            endpoint_public_access=bool(data.get("endpointPublicAccess", False)),
        )

"""The one check of a session request, shared by ValidateRequest and the API's POST.

A request is the execution's input: ``cluster``, ``sshPublicKey``, ``allowedCidrs``,
``durationMinutes`` and ``requestedBy``. The API fills ``cluster`` from its route,
``requestedBy`` from the signed identity and the default ``allowedCidrs`` from the
caller's address, then calls :func:`check_request` as ValidateRequest does. Every
refusal is an InvalidRequest whose message starts with the field at fault.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from tasks.common.cidrs import CidrError, CidrPolicy, cidr_field, parse_cidrs
from tasks.common.errors import InvalidRequest, StackMisconfigured
from tasks.common.observability import error_code
from tasks.common.settings import ALL_CLUSTERS, Settings
from tasks.common.ssh_keys import SshKeyError, normalize_public_key

REQUEST_FIELDS = frozenset(
    {"cluster", "sshPublicKey", "allowedCidrs", "durationMinutes", "requestedBy"}
)
#: EKS's own rule for cluster names.
CLUSTER_NAME_PATTERN = re.compile(r"[0-9A-Za-z][A-Za-z0-9\-_]{0,99}")
DEFAULT_REQUESTED_BY = "unspecified"
MAX_REQUESTED_BY_CHARS = 256
#: requestedBy becomes a tag value on EC2, ECS and SSM; SSM allows only these.
_TAG_PUNCTUATION = frozenset("_.:/=+-@")


@dataclass(frozen=True)
class SessionRequest:
    """A checked request: every field present and normalized."""

    cluster: str
    ssh_public_key: str
    allowed_cidrs: tuple[str, ...]
    duration_minutes: int
    requested_by: str

    def to_input(self) -> dict[str, Any]:
        """The request as the session machine's input."""
        return {
            "cluster": self.cluster,
            "sshPublicKey": self.ssh_public_key,
            "allowedCidrs": list(self.allowed_cidrs),
            "durationMinutes": self.duration_minutes,
            "requestedBy": self.requested_by,
        }


def check_request(body: Any, *, settings: Settings, eks: Any) -> SessionRequest:
    """The checked request; raise InvalidRequest naming the first field at fault."""
    if not isinstance(body, Mapping):
        raise InvalidRequest("request", "must be a JSON object")
    unknown = sorted(str(field) for field in body if field not in REQUEST_FIELDS)
    if unknown:
        known = ", ".join(sorted(REQUEST_FIELDS))
        raise InvalidRequest(unknown[0], f"is not a known field (known: {known})")
    cluster = check_cluster_name(body.get("cluster"), settings)
    request = SessionRequest(
        cluster=cluster,
        ssh_public_key=check_ssh_public_key(body.get("sshPublicKey")),
        allowed_cidrs=check_allowed_cidrs(body.get("allowedCidrs"), settings),
        duration_minutes=check_duration(body.get("durationMinutes"), settings),
        requested_by=check_requested_by(body.get("requestedBy", DEFAULT_REQUESTED_BY)),
    )
    # The one check that costs an AWS call comes last.
    check_cluster_reachable(eks, cluster)
    return request


def check_cluster_name(value: Any, settings: Settings) -> str:
    """A well-formed cluster name this stack serves (AllowedClusters; ``*`` is every one)."""
    allowed = settings.allowed_clusters
    if not allowed or (ALL_CLUSTERS in allowed and len(allowed) > 1):
        raise StackMisconfigured(
            "this stack serves no cluster: its AllowedClusters setting is "
            f"{','.join(allowed)!r}, which is a deployment error (set it to the cluster "
            "names, comma-separated, or to * for every cluster, and redeploy)"
        )
    if value is None:
        raise InvalidRequest("cluster", "is required")
    if not isinstance(value, str):
        raise InvalidRequest("cluster", "must be a string")
    if not CLUSTER_NAME_PATTERN.fullmatch(value):
        raise InvalidRequest(
            "cluster",
            f"{value[:100]!r} is not a valid EKS cluster name (1-100 letters, digits, '-' "
            "and '_', starting with a letter or digit)",
        )
    if allowed != (ALL_CLUSTERS,) and value not in allowed:
        served = ", ".join(allowed)
        raise InvalidRequest(
            "cluster", f"{value!r} is not a cluster this stack serves (allowed: {served})"
        )
    return value


def check_ssh_public_key(value: Any) -> str:
    """One plain OpenSSH public key line, normalized."""
    if value is None:
        raise InvalidRequest("sshPublicKey", "is required")
    if not isinstance(value, str):
        raise InvalidRequest("sshPublicKey", "must be a string")
    try:
        return normalize_public_key(value)
    except SshKeyError as error:
        raise InvalidRequest("sshPublicKey", str(error)) from None


def check_allowed_cidrs(value: Any, settings: Settings) -> tuple[str, ...]:
    """The networks allowed to reach SSH, normalized."""
    if value is None:
        raise InvalidRequest("allowedCidrs", "is required")
    policy = CidrPolicy(
        max_cidrs=settings.max_cidrs,
        widest_ipv4_prefix=settings.widest_ipv4_prefix,
        widest_ipv6_prefix=settings.widest_ipv6_prefix,
    )
    try:
        return parse_cidrs(value, policy)
    except CidrError as error:
        raise InvalidRequest(cidr_field("allowedCidrs", error), error.problem) from None


def check_duration(value: Any, settings: Settings) -> int:
    """The session's length in minutes (the stack's default when absent)."""
    if value is None:
        return settings.default_duration_minutes
    # bool is an int subclass: true must not mean one minute.
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest("durationMinutes", "must be a whole number of minutes")
    if not 1 <= value <= settings.max_duration_minutes:
        raise InvalidRequest(
            "durationMinutes", f"must be between 1 and {settings.max_duration_minutes}"
        )
    return value


def check_requested_by(value: Any) -> str:
    """Who asked: free text that must also be a valid tag value everywhere it is used."""
    if not isinstance(value, str):
        raise InvalidRequest("requestedBy", "must be a string")
    if not value.strip():
        raise InvalidRequest("requestedBy", "must not be blank")
    if len(value) > MAX_REQUESTED_BY_CHARS:
        raise InvalidRequest("requestedBy", f"must be at most {MAX_REQUESTED_BY_CHARS} characters")
    for char in value:
        if unicodedata.category(char).startswith("C"):
            raise InvalidRequest("requestedBy", "must not contain control characters")
        if not (char.isalnum() or char == " " or char in _TAG_PUNCTUATION):
            raise InvalidRequest(
                "requestedBy",
                f"must contain only letters, digits, spaces and _ . : / = + - @ "
                f"(it becomes a tag value), not {char!r}",
            )
    return value


def check_cluster_reachable(eks: Any, cluster: str) -> None:
    """The cluster exists here and has a private endpoint for the bastion to reach."""
    try:
        described = eks.describe_cluster(name=cluster)["cluster"]
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            raise InvalidRequest(
                "cluster", f"no EKS cluster named {cluster!r} in {eks.meta.region_name}"
            ) from None
        raise
    if described.get("resourcesVpcConfig", {}).get("endpointPrivateAccess") is not True:
        raise InvalidRequest(
            "cluster",
            f"{cluster!r} has no private endpoint access, so a bastion in its VPC cannot "
            "reach its API (enable endpointPrivateAccess)",
        )

"""The one check of a session request, shared by ValidateRequest and the API's POST.

A request is the execution's input: ``cluster``, ``sshPublicKey``, ``accessMode``,
``allowedCidrs``, ``durationMinutes``, ``requestedBy`` and ``requesterId``. The API fills
``cluster`` from its route, ``requestedBy`` and ``requesterId`` from the signed identity
and, for a public session, the default ``allowedCidrs`` from the caller's address, then
calls :func:`check_request` as ValidateRequest does. Every refusal is an InvalidRequest
whose message starts with the field at fault.

``accessMode`` is one the stack allows (its default when absent). A private session opens
no inbound port, so a private request that names ``allowedCidrs`` is refused, and it needs
the requester's ``aws:userid`` (``requesterId``): the Session Manager grant lets a caller
onto a task whose requester-id tag is their own.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from tasks.common.access_modes import ACCESS_MODES, PRIVATE, PUBLIC
from tasks.common.cidrs import CidrError, CidrPolicy, cidr_field, parse_cidrs
from tasks.common.errors import InvalidRequest, StackMisconfigured
from tasks.common.observability import error_code
from tasks.common.settings import ALL_CLUSTERS, Settings
from tasks.common.ssh_keys import SshKeyError, normalize_public_key

REQUEST_FIELDS = frozenset(
    {
        "cluster",
        "sshPublicKey",
        "accessMode",
        "allowedCidrs",
        "durationMinutes",
        "requestedBy",
        "requesterId",
    }
)
#: EKS's own rule for cluster names.
CLUSTER_NAME_PATTERN = re.compile(r"[0-9A-Za-z][A-Za-z0-9\-_]{0,99}")
DEFAULT_REQUESTED_BY = "unspecified"
#: The longest tag value EC2, ECS and SSM all take.
MAX_TAG_VALUE_CHARS = 256
MAX_REQUESTED_BY_CHARS = MAX_TAG_VALUE_CHARS
#: requestedBy and requesterId become tag values on EC2, ECS and SSM; ECS and SSM allow
#: only letters, digits, spaces and these.
_TAG_PUNCTUATION = frozenset("_.:/=+-@")


@dataclass(frozen=True)
class SessionRequest:
    """A checked request: every field present and normalized."""

    cluster: str
    ssh_public_key: str
    allowed_cidrs: tuple[str, ...]
    duration_minutes: int
    requested_by: str
    access_mode: str = PUBLIC
    #: The requester's ``aws:userid``; empty when the request named none (public only).
    requester_id: str = ""

    def to_input(self) -> dict[str, Any]:
        """The request as the session machine's input (which passes this check again: a
        private session's input names no ``allowedCidrs``)."""
        request: dict[str, Any] = {
            "cluster": self.cluster,
            "sshPublicKey": self.ssh_public_key,
            "accessMode": self.access_mode,
            "allowedCidrs": list(self.allowed_cidrs),
            "durationMinutes": self.duration_minutes,
            "requestedBy": self.requested_by,
            "requesterId": self.requester_id,
        }
        if self.access_mode == PRIVATE:
            del request["allowedCidrs"]
        if not self.requester_id:
            del request["requesterId"]
        return request


def check_request(body: Any, *, settings: Settings, eks: Any) -> SessionRequest:
    """The checked request; raise InvalidRequest naming the first field at fault."""
    if not isinstance(body, Mapping):
        raise InvalidRequest("request", "must be a JSON object")
    unknown = sorted(str(field) for field in body if field not in REQUEST_FIELDS)
    if unknown:
        known = ", ".join(sorted(REQUEST_FIELDS))
        raise InvalidRequest(unknown[0], f"is not a known field (known: {known})")
    cluster = check_cluster_name(body.get("cluster"), settings)
    ssh_public_key = check_ssh_public_key(body.get("sshPublicKey"))
    access_mode = check_access_mode(body.get("accessMode"), settings)
    if access_mode == PRIVATE:
        allowed_cidrs = check_no_cidrs(body)
    else:
        allowed_cidrs = check_allowed_cidrs(body.get("allowedCidrs"), settings)
    request = SessionRequest(
        cluster=cluster,
        ssh_public_key=ssh_public_key,
        allowed_cidrs=allowed_cidrs,
        duration_minutes=check_duration(body.get("durationMinutes"), settings),
        requested_by=check_requested_by(body.get("requestedBy", DEFAULT_REQUESTED_BY)),
        access_mode=access_mode,
        requester_id=check_requester_id(body.get("requesterId"), access_mode),
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


def check_access_mode(value: Any, settings: Settings) -> str:
    """The session's access mode: one the stack allows (its default when absent)."""
    if value is None:
        return settings.default_access_mode
    if not isinstance(value, str) or value not in ACCESS_MODES:
        shown = repr(value)[:100]
        raise InvalidRequest("accessMode", f"must be {' or '.join(ACCESS_MODES)}, not {shown}")
    if value not in settings.access_modes:
        allowed = ", ".join(settings.access_modes)
        raise InvalidRequest(
            "accessMode",
            f"{value!r} is not a mode this stack allows: this stack allows only {allowed} "
            "(its AccessModes setting)",
        )
    return value


def check_no_cidrs(body: Mapping[str, Any]) -> tuple[str, ...]:
    """A private session's networks: none, and a request that names some is refused."""
    if "allowedCidrs" in body:
        raise InvalidRequest(
            "allowedCidrs",
            "has no meaning here: private sessions open no inbound port (leave it out)",
        )
    return ()


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
    return check_tag_text("requestedBy", value)


def check_requester_id(value: Any, access_mode: str) -> str:
    """The requester's ``aws:userid`` (a tag value), required for a private session.
    Absent, null and ``""`` all mean none (a session's own ``requesterId`` when it has none)."""
    if value is None or value == "":
        if access_mode == PRIVATE:
            raise InvalidRequest(
                "requesterId",
                "is required for a private session: the requester's aws:userid (the UserId "
                "of `aws sts get-caller-identity`), which the Session Manager grant matches",
            )
        return ""
    return check_tag_text("requesterId", value)


def check_tag_text(field: str, value: Any) -> str:
    """``value`` if it is text that every service the session tags takes as a tag value."""
    if not isinstance(value, str):
        raise InvalidRequest(field, "must be a string")
    if not value.strip():
        raise InvalidRequest(field, "must not be blank")
    if len(value) > MAX_TAG_VALUE_CHARS:
        raise InvalidRequest(field, f"must be at most {MAX_TAG_VALUE_CHARS} characters")
    for char in value:
        if unicodedata.category(char).startswith("C"):
            raise InvalidRequest(field, "must not contain control characters")
        if not (char.isalnum() or char == " " or char in _TAG_PUNCTUATION):
            raise InvalidRequest(
                field,
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

"""ValidateRequest: turn the execution's input into a Session, or refuse it.

Runs before anything is created, so a refused request leaves nothing behind. Every
refusal is an InvalidRequest whose message starts with the field at fault.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from tasks.common.aws import client
from tasks.common.cidrs import CidrError, CidrPolicy, cidr_field, parse_cidrs
from tasks.common.errors import InvalidRequest
from tasks.common.models import Session, format_timestamp, parse_timestamp, require
from tasks.common.observability import error_code, logger, task_handler
from tasks.common.settings import Settings, load_settings
from tasks.common.ssh_keys import SshKeyError, normalize_public_key
from tasks.common.validation import check_session_id

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

ALLOWED_FIELDS = frozenset(
    {"cluster", "sshPublicKey", "allowedCidrs", "durationMinutes", "requestedBy"}
)
#: EKS's own rule for cluster names.
CLUSTER_NAME_PATTERN = re.compile(r"[0-9A-Za-z][A-Za-z0-9\-_]{0,99}")
DEFAULT_REQUESTED_BY = "unspecified"
MAX_REQUESTED_BY_CHARS = 256
#: requestedBy becomes a tag value on EC2, ECS and SSM; SSM allows only these.
_TAG_PUNCTUATION = frozenset("_.:/=+-@")


@dataclass(frozen=True)
class ValidateRequestInput:
    """The task's input: the session id, when the execution started, the raw request."""

    session_id: Any
    started_at: str
    request: Any

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> ValidateRequestInput:
        return cls(
            session_id=require(event, "sessionId"),
            started_at=str(require(event, "startedAt")),
            request=require(event, "request"),
        )


def validate_request(request: ValidateRequestInput, *, settings: Settings, eks: Any) -> Session:
    """The validated session; raise InvalidRequest naming the first field at fault."""
    session_id = check_session_id(request.session_id)
    started_at = parse_timestamp(request.started_at)
    body = request.request
    if not isinstance(body, Mapping):
        raise InvalidRequest("request", "must be a JSON object")
    unknown = sorted(str(field) for field in body if field not in ALLOWED_FIELDS)
    if unknown:
        known = ", ".join(sorted(ALLOWED_FIELDS))
        raise InvalidRequest(unknown[0], f"is not a known field (known: {known})")
    cluster = check_cluster_name(body.get("cluster"), settings)
    ssh_public_key = check_ssh_public_key(body.get("sshPublicKey"))
    allowed_cidrs = check_allowed_cidrs(body.get("allowedCidrs"), settings)
    duration = check_duration(body.get("durationMinutes"), settings)
    requested_by = check_requested_by(body.get("requestedBy", DEFAULT_REQUESTED_BY))
    check_cluster_reachable(eks, cluster)
    return Session(
        session_id=session_id,
        cluster=cluster,
        ssh_public_key=ssh_public_key,
        allowed_cidrs=allowed_cidrs,
        duration_minutes=duration,
        requested_by=requested_by,
        started_at=format_timestamp(started_at),
        expires_at=format_timestamp(started_at + timedelta(minutes=duration)),
    )


def check_cluster_name(value: Any, settings: Settings) -> str:
    """A well-formed cluster name this stack serves."""
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
    if settings.allowed_clusters and value not in settings.allowed_clusters:
        raise InvalidRequest(
            "cluster",
            f"{value!r} is not a cluster this stack serves "
            f"(allowed: {', '.join(settings.allowed_clusters)})",
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


@task_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """ValidateRequest."""
    request = ValidateRequestInput.from_event(event)
    session = validate_request(request, settings=load_settings(), eks=client("eks"))
    logger.info(
        "validated session request",
        extra={"cluster": session.cluster, "expiresAt": session.expires_at},
    )
    return session.to_dict()

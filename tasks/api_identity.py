"""Who is calling the session API, and what they may do.

Who asks comes from API Gateway's SigV4-verified request context, never from the body:
the caller is ``requestContext.identity.userArn`` (an IAM user, or an assumed-role
session), its ``aws:userid`` is ``requestContext.identity.user`` (``AIDA...`` or
``AROA...:<session>``: the session's requester id), and a public session's default
``allowedCidrs`` is the caller's own address (``sourceIp``).
The requester of a session and the stack's administrators may see and end it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from tasks.common.settings import Settings


class ApiError(Exception):
    """An answer other than success, with the field at fault if there is one."""

    def __init__(
        self,
        status: HTTPStatus,
        message: str,
        field: str | None = None,
        *,
        limit: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        #: The cap a 429 names (MaxSessionsPerCaller, ...).
        self.limit = limit


@dataclass(frozen=True)
class Caller:
    """Who signed the request, as API Gateway verified it."""

    user_arn: str
    account_id: str | None = None
    source_ip: str | None = None
    #: The caller's ``aws:userid``, as API Gateway verified it.
    user_id: str | None = None

    @property
    def short_name(self) -> str:
        """A readable name for session ids: the user, or the assumed role's session name."""
        resource = self.user_arn.split(":", 5)[-1]
        name = resource.rsplit("/", 1)[-1].split("@", 1)[0]
        cleaned = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-_")[:32]
        return cleaned or "session"

    def default_cidrs(self) -> list[str] | None:
        """The caller's own address as a single-host network, if it is an address at all."""
        try:
            address = ipaddress.ip_address(self.source_ip or "")
        except ValueError:
            # The console's test invocations say "test-invoke-source-ip".
            return None
        return [f"{address}/{address.max_prefixlen}"]


def caller_from_event(event: Mapping[str, Any]) -> Caller:
    """The verified caller of a REST proxy event; 403 when the request was not signed."""
    context = event.get("requestContext")
    identity = context.get("identity") if isinstance(context, Mapping) else None
    if not isinstance(identity, Mapping):
        identity = {}
    user_arn = identity.get("userArn")
    if not isinstance(user_arn, str) or not user_arn.startswith("arn:"):
        raise ApiError(
            HTTPStatus.FORBIDDEN,
            "the request carries no verified IAM identity: call this API with "
            "SigV4-signed requests (its methods use AWS_IAM authorization)",
        )
    account = identity.get("accountId")
    source = identity.get("sourceIp")
    user_id = identity.get("user")
    return Caller(
        user_arn=user_arn,
        account_id=account if isinstance(account, str) else None,
        source_ip=source if isinstance(source, str) else None,
        user_id=user_id if isinstance(user_id, str) and user_id else None,
    )


@dataclass(frozen=True)
class _Arn:
    partition: str
    service: str
    account: str
    resource: str

    @classmethod
    def parse(cls, text: str) -> _Arn | None:
        parts = text.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn":
            return None
        return cls(partition=parts[1], service=parts[2], account=parts[4], resource=parts[5])


def _assumed_role_name(arn: _Arn) -> str | None:
    """ROLE of ``arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION``, else None."""
    parts = arn.resource.split("/")
    if arn.service != "sts" or len(parts) != 3 or parts[0] != "assumed-role":
        return None
    return parts[1] or None


def _role_name(arn: _Arn) -> str | None:
    """NAME of ``arn:aws:iam::ACCOUNT:role/PATH/NAME``, else None."""
    parts = arn.resource.split("/")
    if arn.service != "iam" or len(parts) < 2 or parts[0] != "role":
        return None
    return parts[-1] or None


def is_admin(user_arn: str, admin_arns: Iterable[str]) -> bool:
    """Whether the caller is one of the administrators.

    An entry matches the caller's ARN exactly (an IAM user, or one assumed-role session),
    or is the IAM role whose session the caller is: the role ARN may carry a path that
    the session ARN drops, and role names are unique in an account, so the role matches
    by partition, account and name.
    """
    caller = _Arn.parse(user_arn)
    role = _assumed_role_name(caller) if caller else None
    for admin in admin_arns:
        if admin == user_arn:
            return True
        entry = _Arn.parse(admin)
        if caller is None or role is None or entry is None:
            continue
        if (entry.partition, entry.account) == (caller.partition, caller.account) and (
            _role_name(entry) == role
        ):
            return True
    return False


def may_manage(caller: Caller, requested_by: str | None, settings: Settings) -> bool:
    """The requester (exactly the ARN that started it) or an administrator."""
    return requested_by == caller.user_arn or is_admin(
        caller.user_arn, settings.admin_principal_arns
    )

"""Extending a holding session, within the stack's maximum lifetime.

An extension is a signal to the hold: SendTaskFailure on the hold's task token with the
error ``SessionExtensionRequested`` and the request as JSON in the cause,
``{"byMinutes", "requestedBy", "requestedAt"}``. The session machine catches it into
ExtendSession, which checks it against the session's latest expiry (its start plus the
stack's MaxDurationMinutes, fixed when the session was validated) and re-enters the hold
with the seconds left until the new expiry, or until the unchanged one when it refuses.
The request (the hold's failure) and the outcome (ExtendSession's result) are both in the
execution's history.

A failure rather than a success, so that the hold's ordinary ends (its timeout, an early
end's SendTaskSuccess) take exactly the transitions they took before: only an extension
takes more.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tasks.common.errors import InvalidRequest, SessionExtensionRequested
from tasks.common.models import format_timestamp

#: The error name the hold's catch takes an extension by.
EXTENSION_REQUESTED = SessionExtensionRequested.__name__
#: The field of a request that names the extension.
BY_MINUTES = "byMinutes"
#: Where the stack's maximum lifetime is set: what a refusal names.
LIMIT = "MaxDurationMinutes"
#: The most extension requests one session's hold answers. Each one passes ExtendSession,
#: BastionReady and the hold again, and an execution's history holds 25,000 events at most
#: (benchmarks/history.py counts this loop at its bound): BastionReady ends a session
#: whose hold has been asked more often, and the API refuses the request before that.
MAX_EXTENSION_REQUESTS = 50
#: Where the ready document counts the extension requests its hold answered.
REQUESTS_ANSWERED = "extensionRequests"
#: Why a session ends when its hold was asked to extend it too often.
TOO_MANY_REQUESTS = "too-many-extension-requests"
#: The longest cause ExtendSession reads (a request is well under 1 KiB).
MAX_CAUSE_CHARS = 4096


class ExtensionRefused(InvalidRequest):
    """The extension would take the session past its latest expiry; nothing changes."""

    def __init__(self, problem: str) -> None:
        super().__init__(BY_MINUTES, problem)
        self.limit = LIMIT


def check_by_minutes(value: Any, max_minutes: int) -> int:
    """``value`` if it is a whole number of minutes from 1 to ``max_minutes``, else
    InvalidRequest naming ``byMinutes`` (a bool is not a number here)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= max_minutes:
        raise InvalidRequest(
            BY_MINUTES,
            f"must be a whole number of minutes from 1 to {max_minutes} (the stack's {LIMIT})",
        )
    return value


@dataclass(frozen=True)
class ExtensionRequest:
    """Who asks to extend a session, by how much, and when."""

    by_minutes: int
    requested_by: str
    requested_at: str

    def to_dict(self) -> dict[str, Any]:
        return {
            BY_MINUTES: self.by_minutes,
            "requestedBy": self.requested_by,
            "requestedAt": self.requested_at,
        }

    def to_cause(self) -> str:
        """The request as the cause of the hold's SendTaskFailure."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_cause(cls, cause: Any, max_minutes: int) -> ExtensionRequest:
        """The request a hold's failure carries; InvalidRequest when it is not one."""
        if not isinstance(cause, str) or len(cause) > MAX_CAUSE_CHARS:
            raise InvalidRequest(
                "cause", f"must be a JSON object of at most {MAX_CAUSE_CHARS} characters"
            )
        try:
            request = json.loads(cause)
        except (ValueError, RecursionError):
            raise InvalidRequest("cause", "is not JSON") from None
        if not isinstance(request, dict):
            raise InvalidRequest("cause", "must be a JSON object")
        requested_by = request.get("requestedBy")
        requested_at = request.get("requestedAt")
        return cls(
            by_minutes=check_by_minutes(request.get(BY_MINUTES), max_minutes),
            # A request sent straight to Step Functions names whoever it likes: the
            # history records it as given, and CloudTrail the caller of SendTaskFailure.
            requested_by=requested_by[:256] if isinstance(requested_by, str) else "unnamed",
            requested_at=requested_at[:64] if isinstance(requested_at, str) else "",
        )


def extended_expiry(
    expires_at: datetime, by_minutes: int, *, started_at: datetime, latest: datetime
) -> datetime:
    """``expires_at`` moved on by ``by_minutes``; ExtensionRefused, naming the limit and
    what is left of it, when that passes ``latest``."""
    extended = expires_at + timedelta(minutes=by_minutes)
    if extended <= latest:
        return extended
    left = max(0, math.floor((latest - expires_at).total_seconds() / 60))
    lifetime = round((latest - started_at).total_seconds() / 60)
    raise ExtensionRefused(
        f"extending by {by_minutes} min would end the session at {format_timestamp(extended)}, "
        f"past its latest expiry {format_timestamp(latest)}: the stack's {LIMIT} allows "
        f"{lifetime} min from the session's start; it may be extended by {left} min at most"
    )


def hold_seconds(expires_at: datetime, now: datetime) -> int:
    """The hold's TimeoutSeconds until ``expires_at``: whole seconds, at least 1."""
    return max(1, math.ceil((expires_at - now).total_seconds()))

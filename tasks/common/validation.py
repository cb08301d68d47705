"""Checks of identifiers that arrive in task input from outside the stack."""

from __future__ import annotations

import re
from typing import Any

from tasks.common.errors import InvalidRequest

#: Step Functions execution names with CloudWatch logging: 1-80 of these characters.
SESSION_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,80}")
#: Why a session ended: a short slug such as ``ended-by-user`` or ``bastion-stopped``.
END_REASON_PATTERN = re.compile(r"[a-z0-9-]{1,64}")


def check_session_id(value: Any) -> str:
    """``value`` if it is a valid session id, else InvalidRequest naming ``sessionId``."""
    if not isinstance(value, str) or not SESSION_ID_PATTERN.fullmatch(value):
        raise InvalidRequest("sessionId", "must be 1-80 characters of letters, digits, '-' and '_'")
    return value


def check_end_reason(value: Any) -> str:
    """``value`` if it is a valid end reason, else InvalidRequest naming ``reason``."""
    if not isinstance(value, str) or not END_REASON_PATTERN.fullmatch(value):
        raise InvalidRequest(
            "reason", "must be 1-64 characters of lowercase letters, digits and '-'"
        )
    return value

"""What a request to the session API asks for, checked before anything is started.

A start request is the route's cluster, the body and the signed caller, turned into the
execution's input by the same check ValidateRequest runs
(:func:`tasks.common.session_request.check_request`): the body never names the
requester (its ARN and its ``aws:userid`` come from the signed identity), and the
caller's own address is a public session's default ``allowedCidrs``; a private session
opens no inbound port, so it gets none.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from tasks.api_identity import ApiError, Caller
from tasks.common.access_modes import PRIVATE
from tasks.common.errors import InvalidRequest
from tasks.common.session_request import (
    CLUSTER_NAME_PATTERN,
    REQUEST_FIELDS,
    SessionRequest,
    check_request,
)
from tasks.common.settings import Settings
from tasks.common.validation import check_session_id

#: The request's fields the signed identity fills, never the body.
IDENTITY_FIELDS = ("requestedBy", "requesterId")
#: What a POST body may hold: the request's fields but the identity's, and ``sessionId``
#: to make a retry idempotent.
BODY_FIELDS = (REQUEST_FIELDS - set(IDENTITY_FIELDS)) | {"sessionId"}


def parse_body(raw: Any, is_base64: bool = False) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 naming ``body``."""
    if raw is None or raw == "":
        raise ApiError(HTTPStatus.BAD_REQUEST, "body: is required (a JSON object)", "body")
    try:
        text = base64.b64decode(raw, validate=True).decode() if is_base64 else str(raw)
        body = json.loads(text)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ApiError(HTTPStatus.BAD_REQUEST, "body: is not valid JSON", "body") from None
    except RecursionError:
        raise ApiError(HTTPStatus.BAD_REQUEST, "body: is nested too deeply", "body") from None
    if not isinstance(body, dict):
        raise ApiError(HTTPStatus.BAD_REQUEST, "body: must be a JSON object", "body")
    return body


def check_cluster_in_route(value: str) -> str:
    """The route's cluster, if it is a well-formed EKS cluster name."""
    if not CLUSTER_NAME_PATTERN.fullmatch(value):
        raise InvalidRequest(
            "cluster", "must be an EKS cluster name (1-100 letters, digits, '-' and '_')"
        )
    return value


@dataclass(frozen=True)
class StartRequest:
    """A checked request to start a session: the execution's name and input."""

    session_id: str
    request: SessionRequest

    def execution_input(self) -> str:
        """The execution's input; sorted keys keep a retried request's input identical."""
        return json.dumps(self.request.to_input(), sort_keys=True)


def new_session_id(caller: Caller) -> str:
    """``<short name>-<random>``: readable in the console, unique, a valid execution name."""
    return f"{caller.short_name}-{secrets.token_hex(4)}"


def check_start_request(
    cluster: str,
    body: Mapping[str, Any],
    caller: Caller,
    *,
    settings: Settings,
    eks: Any,
    new_id: Callable[[Caller], str] = new_session_id,
) -> StartRequest:
    """The request the route, the body and the caller make, checked as ValidateRequest
    checks it (the same function), plus what only the API knows."""
    for field in IDENTITY_FIELDS:
        if field in body:
            raise InvalidRequest(
                field, "is taken from your signed IAM identity and cannot be set in the body"
            )
    unknown = sorted(str(name) for name in body if name not in BODY_FIELDS)
    if unknown:
        known = ", ".join(sorted(BODY_FIELDS))
        raise InvalidRequest(unknown[0], f"is not a known field (known: {known})")
    if body.get("cluster", cluster) != cluster:
        raise InvalidRequest("cluster", f"must be the route's cluster ({cluster!r}) or absent")
    session_id = check_session_id(
        new_id(caller) if body.get("sessionId") is None else body["sessionId"]
    )
    request = {key: value for key, value in body.items() if key != "sessionId"}
    request.update(cluster=cluster, requestedBy=caller.user_arn)
    if caller.user_id is not None:
        request["requesterId"] = caller.user_id
    mode = request.get("accessMode")
    private = (settings.default_access_mode if mode is None else mode) == PRIVATE
    if not private and request.get("allowedCidrs") is None:
        request["allowedCidrs"] = caller.default_cidrs()
        if request["allowedCidrs"] is None:
            raise InvalidRequest(
                "allowedCidrs", "is required: the request carries no source address to default to"
            )
    try:
        checked = check_request(request, settings=settings, eks=eks)
    except InvalidRequest as refused:
        if refused.field not in IDENTITY_FIELDS:
            raise
        raise InvalidRequest(
            refused.field,
            f"{refused.problem}; it is taken from your signed IAM identity, which therefore "
            "cannot start a session: use an identity (for an assumed role, a role session "
            "name) without that character",
        ) from None
    return StartRequest(session_id, checked)

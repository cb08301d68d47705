"""Only requests signed with the local AWS's own secret credentials reach it.

The local AWS listens on a loopback port, which every local user can connect to, and
moto's server accepts anything. :class:`SignedRequestsOnly` wraps its WSGI application:
a request passes only with an AWS Signature Version 4 made with the daemon's access key
and secret (created afresh at each start, kept in the owner's 0600 ``state.json``) and
dated within five minutes; anything else is answered 403 before moto sees it, and a
request that does not name the daemon's key is refused before its body is read. The
signature is recomputed with botocore's own signer, as AWS checks it. No CORS headers are
ever sent, so no web page can read an answer either.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

MAX_CLOCK_SKEW = timedelta(minutes=5)
_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[A-Z0-9]+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)/"
    r"(?P<service>[a-z0-9-]+)/aws4_request, ?SignedHeaders=(?P<headers>[a-z0-9;-]+), ?"
    r"Signature=(?P<signature>[0-9a-f]{64})"
)

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


@dataclass(frozen=True)
class LocalCredentials:
    """The local AWS's own access key and secret."""

    access_key_id: str
    secret_access_key: str

    @classmethod
    def generate(cls) -> LocalCredentials:
        return cls("AKLOCAL" + secrets.token_hex(8).upper(), secrets.token_urlsafe(32))

    def for_boto3(self) -> dict[str, str]:
        """Keyword arguments of ``boto3.Session``."""
        return {
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
        }


def _header(environ: dict[str, Any], name: str) -> str | None:
    key = name.upper().replace("-", "_")
    if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        value = environ.get(key)
    else:
        value = environ.get(f"HTTP_{key}")
    return None if value is None else str(value)


def _own_key_dated_now(
    environ: dict[str, Any], credentials: LocalCredentials
) -> re.Match[str] | None:
    """The request's Authorization header, if it names ``credentials``' key and is dated
    within :data:`MAX_CLOCK_SKEW` of now: what is checked before the body is read."""
    match = _AUTHORIZATION.fullmatch(str(environ.get("HTTP_AUTHORIZATION") or "").strip())
    if match is None or not hmac.compare_digest(match["key"], credentials.access_key_id):
        return None
    stamp = _header(environ, "x-amz-date") or ""
    try:
        moment = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    if abs(datetime.now(UTC) - moment) > MAX_CLOCK_SKEW or stamp[:8] != match["date"]:
        return None
    return match


def is_signed_by(environ: dict[str, Any], body: bytes, credentials: LocalCredentials) -> bool:
    """Whether the WSGI request ``environ`` (with ``body``) is signed with ``credentials``."""
    match = _own_key_dated_now(environ, credentials)
    if match is None:
        return False
    stamp = _header(environ, "x-amz-date") or ""
    signed = match["headers"].split(";")
    headers: dict[str, str] = {}
    for name in signed:
        value = _header(environ, name)
        if value is None:
            return False
        headers[name] = value
    # botocore signs a declared payload hash (X-Amz-Content-SHA256) in place of the body:
    # the body must be the one it declares (no unsigned payloads over loopback's plain HTTP).
    declared = headers.get("x-amz-content-sha256")
    if declared is not None and not hmac.compare_digest(declared, hashlib.sha256(body).hexdigest()):
        return False
    raw_uri = str(environ.get("RAW_URI") or environ.get("REQUEST_URI") or "")
    if not raw_uri.startswith("/"):
        return False
    request = AWSRequest(
        method=str(environ.get("REQUEST_METHOD", "GET")),
        url=f"http://{headers.get('host', environ.get('HTTP_HOST', ''))}{raw_uri}",
        data=body,
        headers=headers,
    )
    request.context["timestamp"] = stamp
    signer = SigV4Auth(
        Credentials(credentials.access_key_id, credentials.secret_access_key),
        match["service"],
        match["region"],
    )
    expected = signer.signature(
        signer.string_to_sign(request, signer.canonical_request(request)), request
    )
    return hmac.compare_digest(expected, match["signature"])


class SignedRequestsOnly:
    """WSGI middleware: signed requests pass (without CORS headers); others get 403."""

    def __init__(self, app: WsgiApp, credentials: LocalCredentials) -> None:
        self.app = app
        self.credentials = credentials

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        # Only a request that names the daemon's key (which only its user knows) has its
        # body read: anyone else's is refused before a byte of it is taken in.
        known = length >= 0 and _own_key_dated_now(environ, self.credentials) is not None
        body = environ["wsgi.input"].read(length) if known and length > 0 else b""
        if not known or not is_signed_by(environ, body, self.credentials):
            answer = json.dumps(
                {
                    "__type": "UnrecognizedClientException",
                    "message": "the local AWS accepts only requests signed with its own "
                    "credentials (state.json of its state directory)",
                }
            ).encode()
            start_response(
                "403 Forbidden",
                [("Content-Type", "application/json"), ("Content-Length", str(len(answer)))],
            )
            return [answer]
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))

        def without_cors(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            kept = [(k, v) for k, v in headers if not k.lower().startswith("access-control-")]
            return start_response(status, kept, *rest)

        return self.app(environ, without_cors)

"""The local AWS's door: a request's body is read only once its Authorization header
names the daemon's own key, dated now; anyone else is refused before sending a byte more."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from bastion.local.request_signatures import LocalCredentials, SignedRequestsOnly

pytestmark = pytest.mark.local

CREDENTIALS = LocalCredentials.generate()
HOST = "127.0.0.1:4566"


class UnreadableBody(io.RawIOBase):
    """A body the door must not read: reading it fails the test."""

    def read(self, size: int = -1) -> bytes:
        raise AssertionError(f"the body was read ({size} bytes) before the key was checked")


def _inner(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]


def _call(environ: dict[str, Any]) -> tuple[str, bytes]:
    statuses: list[str] = []
    answer = SignedRequestsOnly(_inner, CREDENTIALS)(
        environ, lambda status, headers, *rest: statuses.append(status)
    )
    return statuses[0], b"".join(answer)


def _environ(request: AWSRequest, body: Any, length: int) -> dict[str, Any]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "RAW_URI": "/",
        "PATH_INFO": "/",
        "CONTENT_LENGTH": str(length),
        "wsgi.input": body,
    }
    for name, value in request.headers.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


def _signed(key_id: str, secret: str, body: bytes) -> AWSRequest:
    request = AWSRequest(method="POST", url=f"http://{HOST}/", data=body, headers={"Host": HOST})
    SigV4Auth(Credentials(key_id, secret), "states", "us-east-1").add_auth(request)
    return request


@pytest.mark.parametrize(
    "request_",
    [
        AWSRequest(method="POST", url=f"http://{HOST}/", headers={"Host": HOST}),
        _signed("AKIAOTHERSOMEONE", "their-secret", b"{}"),
    ],
    ids=["unsigned", "another key"],
)
def test_a_huge_body_from_anyone_else_is_refused_unread(request_: AWSRequest) -> None:
    status, _ = _call(_environ(request_, UnreadableBody(), 8 * 1024**3))
    assert status.startswith("403")


def test_a_request_signed_with_its_own_key_is_read_and_passed_on() -> None:
    body = b'{"maxResults": 1}'
    signed = _signed(CREDENTIALS.access_key_id, CREDENTIALS.secret_access_key, body)
    assert _call(_environ(signed, io.BytesIO(body), len(body))) == ("200 OK", body)
    forged = _signed(CREDENTIALS.access_key_id, "not-the-secret", body)
    assert _call(_environ(forged, io.BytesIO(body), len(body)))[0].startswith("403")


def _declaring(declared: str) -> AWSRequest:
    """A request whose signature covers a declared payload hash (S3's
    X-Amz-Content-SHA256), not its body."""
    request = AWSRequest(
        method="POST",
        url=f"http://{HOST}/",
        data=b"{}",
        headers={"Host": HOST, "X-Amz-Content-SHA256": declared},
    )
    credentials = Credentials(CREDENTIALS.access_key_id, CREDENTIALS.secret_access_key)
    SigV4Auth(credentials, "states", "us-east-1").add_auth(request)
    return request


def test_a_body_passes_only_as_the_hash_its_signature_declares() -> None:
    request = _declaring(hashlib.sha256(b"{}").hexdigest())
    assert _call(_environ(request, io.BytesIO(b"{}"), 2)) == ("200 OK", b"{}")
    swapped = b'{"maxResults": 1000}'
    assert _call(_environ(request, io.BytesIO(swapped), len(swapped)))[0].startswith("403")


def test_a_signature_over_an_unsigned_payload_is_refused() -> None:
    request = _declaring("UNSIGNED-PAYLOAD")
    assert _call(_environ(request, io.BytesIO(b"{}"), 2))[0].startswith("403")

"""The local API Gateway: what a client sends reaches the function as the request's own
headers, path and body, never as who called or from where."""

from __future__ import annotations

import io
from typing import Any

import pytest

from bastion.local.api_gateway import RestApi, user_id_of

pytestmark = pytest.mark.local

CALLER = "arn:aws:iam::123456789012:user/owner"


def _invoke_recording(events: list[dict[str, Any]]) -> Any:
    def invoke(event: dict[str, Any]) -> tuple[Any, bool]:
        events.append(event)
        return {"statusCode": 200, "headers": {}, "body": "{}"}, False

    return invoke


def _request(raw_uri: str, headers: dict[str, str], body: bytes = b"") -> dict[str, Any]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": raw_uri,
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    for name, value in headers.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


def test_headers_cannot_name_the_caller_or_its_address() -> None:
    events: list[dict[str, Any]] = []
    api = RestApi(_invoke_recording(events), CALLER, "v1")
    forged = {
        "X-Forwarded-For": "203.0.113.66",
        "X-Amzn-Requestcontext": '{"identity": {"userArn": "arn:aws:iam::1:user/admin"}}',
        "Useridentity": "arn:aws:iam::1:user/admin",
    }
    list(api(_request("/execute-api/v1/sessions", forged), lambda *a: None))
    (event,) = events
    assert event["requestContext"]["identity"] == {
        "userArn": CALLER,
        "user": user_id_of(CALLER),
        "accountId": "123456789012",
        "sourceIp": "127.0.0.1",
    }
    assert event["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert event["multiValueHeaders"]["X-Forwarded-For"] == ["127.0.0.1"]


@pytest.mark.parametrize(
    ("raw_uri", "parameters"),
    [
        ("/execute-api/v1/clusters/a%2F..%2Fb/sessions", {"cluster": "a/../b"}),
        ("/execute-api/v1/clusters/demo/sessions/..", {"cluster": "demo", "id": ".."}),
    ],
)
def test_a_segment_stays_one_parameter(raw_uri: str, parameters: dict[str, str]) -> None:
    events: list[dict[str, Any]] = []
    list(RestApi(_invoke_recording(events), CALLER, "v1")(_request(raw_uri, {}), lambda *a: None))
    assert events[0]["pathParameters"] == parameters


@pytest.mark.parametrize(
    "raw_uri",
    ["/execute-api/v2/sessions", "/execute-api%2Fv1/sessions", "/execute-api/v1", "/"],
)
def test_outside_its_stage_nothing_is_invoked(raw_uri: str) -> None:
    events: list[dict[str, Any]] = []
    statuses: list[str] = []
    api = RestApi(_invoke_recording(events), CALLER, "v1")
    list(api(_request(raw_uri, {}), lambda status, *rest: statuses.append(status)))
    assert (statuses, events) == (["403 Forbidden"], [])


def test_the_callers_user_id_is_spelled_as_iam_spells_it_and_stable() -> None:
    user = user_id_of(CALLER)
    assert user.startswith("AIDA") and len(user) == 21
    assert user == user_id_of(CALLER)
    assert user != user_id_of("arn:aws:iam::123456789012:user/other")
    role = "arn:aws:sts::123456789012:assumed-role/Dev/alice@example.com"
    assert user_id_of(role).startswith("AROA")
    assert user_id_of(role).endswith(":alice@example.com")
    # Two sessions of one role share the role's id, as on IAM
    other = user_id_of("arn:aws:sts::123456789012:assumed-role/Dev/bob")
    assert other.split(":")[0] == user_id_of(role).split(":")[0]

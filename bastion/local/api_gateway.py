"""API Gateway's part of the session API on the local AWS.

moto does not run a REST API's Lambda proxy integrations, so the local daemon plays API
Gateway for the stack's API: a request under ``/execute-api/<stage>`` of its endpoint,
once its signature has passed (:mod:`bastion.local.request_signatures`), becomes the
proxy event API Gateway sends after verifying SigV4 (:func:`proxy_event`), with the local
user as the caller; the deployed API function answers it, and its answer is the
response. The ``bastion`` command calls it exactly as it calls the API on AWS.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, unquote

#: Where the daemon answers the API's routes: ``<endpoint>/execute-api/<stage>/...``.
PREFIX = "/execute-api"
#: The route templates, as the template's API events declare them.
_PARAMETERS = {2: "cluster", 4: "id"}


def proxy_event(
    method: str,
    path: str,
    *,
    caller: str,
    source_ip: str,
    body: str | None = None,
    query: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
    stage: str = "v1",
) -> dict[str, Any]:
    """The REST proxy event of a SigV4-verified request: the caller's ARN, ``aws:userid``
    and address in ``requestContext.identity``, the route's template and its path
    parameters."""
    parts = path.split("/")
    names = _PARAMETERS if parts[1:2] == ["clusters"] else {}
    parameters = {name: unquote(parts[i]) for i, name in names.items() if i < len(parts)}
    resource = "/".join(f"{{{names[i]}}}" if i in names else p for i, p in enumerate(parts))
    account = caller.split(":")[4]
    headers = dict(headers or {})
    headers["X-Forwarded-For"] = source_ip
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in query.items()} if query else None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/{stage}{path}",
            "stage": stage,
            "accountId": account,
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(time.time() * 1000),
            "protocol": "HTTP/1.1",
            "identity": {
                "userArn": caller,
                "user": user_id_of(caller),
                "accountId": account,
                "sourceIp": source_ip,
            },
        },
        "body": body,
        "isBase64Encoded": False,
    }


def user_id_of(caller: str) -> str:
    """The caller's ``aws:userid``, as IAM spells it: ``AIDA<id>`` for a user,
    ``AROA<id>:<session>`` for an assumed-role session; the id is derived from the user's
    or role's ARN, so it is the same for every request of that principal."""
    resource = caller.split(":", 5)[-1]
    parts = resource.split("/")
    if parts[0] == "assumed-role" and len(parts) == 3:
        principal, prefix, suffix = f"role/{parts[1]}", "AROA", f":{parts[2]}"
    else:
        principal, prefix, suffix = resource, "AIDA", ""
    digest = hashlib.sha256(f"{caller.split(':')[4]}:{principal}".encode()).hexdigest()
    return f"{prefix}{digest[:17].upper()}{suffix}"


StartResponse = Callable[..., Any]


class RestApi:
    """A WSGI application that answers the API's routes by invoking its function.

    ``invoke`` takes the proxy event and returns the function's payload and whether the
    function failed; a failed function is API Gateway's 502.
    """

    def __init__(
        self, invoke: Callable[[dict[str, Any]], tuple[Any, bool]], caller: str, stage: str
    ) -> None:
        self.invoke = invoke
        self.caller = caller
        self.stage = stage

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        # The raw path: a percent-encoded "/" stays inside its segment, as on API Gateway.
        raw = str(environ.get("RAW_URI") or environ.get("PATH_INFO") or "").split("?", 1)[0]
        stage_prefix = f"{PREFIX}/{self.stage}/"
        if not raw.startswith(stage_prefix):
            return _answer(start_response, HTTPStatus.FORBIDDEN, {}, '{"message":"Forbidden"}')
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length).decode() if length > 0 else None
        headers = {
            key[5:].replace("_", "-").title(): str(value)
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = str(environ["CONTENT_TYPE"])
        query = parse_qs(str(environ.get("QUERY_STRING") or ""), keep_blank_values=True)
        event = proxy_event(
            str(environ["REQUEST_METHOD"]),
            raw[len(stage_prefix) - 1 :],
            caller=self.caller,
            source_ip=str(environ.get("REMOTE_ADDR") or "127.0.0.1"),
            body=body,
            query=query,
            headers=headers,
            stage=self.stage,
        )
        payload, failed = self.invoke(event)
        if failed or not isinstance(payload, dict):
            return _answer(
                start_response,
                HTTPStatus.BAD_GATEWAY,
                {"Content-Type": "application/json"},
                '{"message": "Internal server error"}',
            )
        answer_headers = {k: v[-1] for k, v in (payload.get("multiValueHeaders") or {}).items()}
        answer_headers.update(payload.get("headers") or {})
        text = str(payload.get("body") or "")
        raw_body = base64.b64decode(text) if payload.get("isBase64Encoded") else text.encode()
        return _answer(
            start_response, HTTPStatus(int(payload["statusCode"])), answer_headers, raw_body
        )


def _answer(
    start_response: StartResponse, status: HTTPStatus, headers: dict[str, str], body: str | bytes
) -> list[bytes]:
    data = body.encode() if isinstance(body, str) else body
    kept = [(k, str(v)) for k, v in headers.items() if k.lower() != "content-length"]
    start_response(f"{status.value} {status.phrase}", [*kept, ("Content-Length", str(len(data)))])
    return [data]


def lambda_invoker(lambda_client: Any, function_name: str) -> Callable[[dict[str, Any]], Any]:
    """``invoke`` for :class:`RestApi`: the function, through the local AWS's Lambda."""

    def invoke(event: dict[str, Any]) -> tuple[Any, bool]:
        answer = lambda_client.invoke(FunctionName=function_name, Payload=json.dumps(event))
        payload = json.loads(answer["Payload"].read() or b"null")
        return payload, bool(answer.get("FunctionError"))

    return invoke

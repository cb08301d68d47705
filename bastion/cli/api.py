"""The stack's IAM-signed sessions API, called with the user's own credentials (SigV4).

The cluster is part of the route, so IAM can grant one cluster and not another:
``POST /clusters/{cluster}/sessions`` {sshPublicKey, allowedCidrs?, durationMinutes?,
sessionId?} → 201 {sessionId, cluster, executionArn, status};
``GET``/``DELETE /clusters/{cluster}/sessions/{id}`` (the session as
tasks/api_view.py works it out); ``GET /sessions`` lists the caller's running sessions.
Errors are {message, field} (a 429 also names the ``limit``). The API takes
``requestedBy`` and the caller's address from the signed request, never the body. Every
command goes through it, so ``execute-api:Invoke`` is all the permission a user needs.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from bastion.cli.errors import CliError, ExitCode
from bastion.cli.target import Target

TIMEOUT_SECONDS = 30
#: The most sessions one listing answers (tasks/api_sessions.py).
MAX_LIST_LIMIT = 100


def _segment(value: str) -> str:
    """One path segment, percent-encoded: a ``/`` or ``..`` in it stays inside it."""
    return urllib.parse.quote(value, safe="")


def sessions_path(cluster: str) -> str:
    """The route of one cluster's sessions: POST starts one there, GET lists yours."""
    return f"/clusters/{_segment(cluster)}/sessions"


def session_path(cluster: str, session_id: str) -> str:
    """The route of one session: GET shows it, DELETE ends it."""
    return f"{sessions_path(cluster)}/{_segment(session_id)}"


def signed_request(
    target: Target, method: str, url: str, body: dict[str, Any] | None = None
) -> urllib.request.Request:
    """A urllib request for ``url`` signed for execute-api with the target's credentials."""
    credentials = target.session.get_credentials()
    if credentials is None:
        raise CliError(
            "no AWS credentials: configure a profile or pass --profile", ExitCode.CONFIGURATION
        )
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Accept": "application/json"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    aws_request = AWSRequest(method=method, url=url, data=data, headers=headers)
    SigV4Auth(credentials.get_frozen_credentials(), "execute-api", target.region).add_auth(
        aws_request
    )
    return urllib.request.Request(  # noqa: S310 - the stack's https URL
        url, data=data, method=method, headers=dict(aws_request.headers.items())
    )


def call(
    target: Target, method: str, path: str, body: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    """Call the API; (status, JSON body). Error answers become CliError."""
    url = target.api_url.rstrip("/") + path
    request = signed_request(target, method, url, body)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        try:
            answer = json.loads(error.read() or b"{}")
        except ValueError:
            answer = {}
        message = str(answer.get("message") or answer.get("Message") or error.reason)
        field = answer.get("field")
        if error.code in (400, 409):
            text = (
                message if not field or message.startswith(f"{field}:") else f"{field}: {message}"
            )
            raise CliError(text, ExitCode.REFUSED, field=field) from None
        if error.code == 404:
            raise CliError(message, ExitCode.NOT_FOUND) from None
        if error.code == 429:
            limit = answer.get("limit")
            raise CliError(
                message if not limit or message.startswith(f"{limit}:") else f"{limit}: {message}",
                ExitCode.REFUSED,
            ) from None
        if error.code in (401, 403):
            raise CliError(
                f"the API refused your credentials: {message}", ExitCode.CONFIGURATION
            ) from None
        raise CliError(f"the API answered {error.code}: {message}") from None
    except urllib.error.URLError as error:
        raise CliError(f"cannot reach {url}: {error.reason}", ExitCode.CONFIGURATION) from None

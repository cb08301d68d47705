"""The session API's routes: the cluster is part of every route that opens, shows or ends
a session, so ``execute-api:Invoke`` on ``.../POST/clusters/payments/sessions`` grants
sessions on ``payments`` and on no other cluster.

- ``POST   /clusters/{cluster}/sessions``       start a session (201)
- ``GET    /clusters/{cluster}/sessions``       the caller's running sessions there
- ``GET    /clusters/{cluster}/sessions/{id}``  one session, with its steps
- ``GET    /clusters/{cluster}/sessions/{id}/resources``  what it owns, found by its tags
- ``POST   /clusters/{cluster}/sessions/{id}/extensions``  extend it (202), ``{"byMinutes"}``
- ``DELETE /clusters/{cluster}/sessions/{id}``  end it early (202)
- ``GET    /sessions``                          the caller's running sessions, every cluster

Every path parameter is checked (the cluster's name, the session id) before it is used.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router

from tasks.api_identity import Caller, caller_from_event
from tasks.api_requests import check_cluster_in_route, check_start_request, parse_body
from tasks.api_session_changes import check_extension_body, end_session, extend_session
from tasks.api_sessions import (
    get_session,
    list_limit,
    list_sessions,
    session_resources,
    start_session,
)
from tasks.common.aws import client
from tasks.common.observability import logger
from tasks.common.settings import load_settings
from tasks.common.validation import check_session_id

router = Router()


def json_response(
    status: HTTPStatus, body: Any, headers: dict[str, str] | None = None
) -> Response[Any]:
    """A JSON answer."""
    return Response(
        status_code=status.value,
        content_type=content_types.APPLICATION_JSON,
        body=body,
        headers=headers,
    )


def _caller() -> Caller:
    caller = caller_from_event(router.current_event.raw_event)
    logger.append_keys(caller=caller.user_arn, sourceIp=caller.source_ip)
    return caller


def _target(cluster: str, session_id: str | None = None) -> tuple[str, str]:
    """The route's cluster and session id, checked, the id as the log's correlation id."""
    cluster = check_cluster_in_route(cluster)
    if session_id is None:
        return cluster, ""
    session_id = check_session_id(session_id)
    logger.set_correlation_id(session_id)
    return cluster, session_id


@router.post("/clusters/<cluster>/sessions")
def post_session(cluster: str) -> Response[Any]:
    caller = _caller()
    cluster, _ = _target(cluster)
    event = router.current_event
    body = parse_body(event.body, bool(event.is_base64_encoded))
    settings = load_settings()
    start = check_start_request(cluster, body, caller, settings=settings, eks=client("eks"))
    logger.set_correlation_id(start.session_id)
    started = start_session(start, settings=settings, sfn=client("stepfunctions"))
    logger.info(
        "started a session",
        extra={"cluster": cluster, "allowedCidrs": list(start.request.allowed_cidrs)},
    )
    location = {"Location": f"/clusters/{cluster}/sessions/{started.session_id}"}
    return json_response(HTTPStatus.CREATED, started.to_dict(), location)


@router.get("/clusters/<cluster>/sessions")
def get_cluster_sessions(cluster: str) -> Response[Any]:
    caller = _caller()
    cluster, _ = _target(cluster)
    listed = list_sessions(
        caller,
        settings=load_settings(),
        sfn=client("stepfunctions"),
        limit=list_limit(router.current_event.query_string_parameters),
        cluster=cluster,
    )
    return json_response(HTTPStatus.OK, listed.to_dict())


@router.get("/sessions")
def get_sessions() -> Response[Any]:
    caller = _caller()
    listed = list_sessions(
        caller,
        settings=load_settings(),
        sfn=client("stepfunctions"),
        limit=list_limit(router.current_event.query_string_parameters),
    )
    return json_response(HTTPStatus.OK, listed.to_dict())


@router.get("/clusters/<cluster>/sessions/<session_id>")
def get_one_session(cluster: str, session_id: str) -> Response[Any]:
    caller = _caller()
    cluster, session_id = _target(cluster, session_id)
    view = get_session(
        cluster,
        session_id,
        caller,
        settings=load_settings(),
        sfn=client("stepfunctions"),
        eks=client("eks"),
    )
    return json_response(HTTPStatus.OK, view.to_dict())


@router.get("/clusters/<cluster>/sessions/<session_id>/resources")
def get_session_resources(cluster: str, session_id: str) -> Response[Any]:
    caller = _caller()
    cluster, session_id = _target(cluster, session_id)
    owned = session_resources(
        cluster,
        session_id,
        caller,
        settings=load_settings(),
        sfn=client("stepfunctions"),
        ec2=client("ec2"),
        ecs=client("ecs"),
        ssm=client("ssm"),
    )
    return json_response(HTTPStatus.OK, owned)


@router.delete("/clusters/<cluster>/sessions/<session_id>")
def delete_session(cluster: str, session_id: str) -> Response[Any]:
    caller = _caller()
    cluster, session_id = _target(cluster, session_id)
    ending = end_session(
        cluster,
        session_id,
        caller,
        settings=load_settings(),
        sfn=client("stepfunctions"),
        lambda_client=client("lambda"),
    )
    logger.info("ending the session at the user's request", extra={"how": ending.how})
    return json_response(HTTPStatus.ACCEPTED, ending.to_dict())


@router.post("/clusters/<cluster>/sessions/<session_id>/extensions")
def post_extension(cluster: str, session_id: str) -> Response[Any]:
    caller = _caller()
    cluster, session_id = _target(cluster, session_id)
    event = router.current_event
    settings = load_settings()
    by_minutes = check_extension_body(
        parse_body(event.body, bool(event.is_base64_encoded)), settings
    )
    extension = extend_session(
        cluster,
        session_id,
        caller,
        by_minutes,
        settings=settings,
        sfn=client("stepfunctions"),
        lambda_client=client("lambda"),
    )
    logger.info("asked to extend the session", extra={"byMinutes": by_minutes})
    return json_response(HTTPStatus.ACCEPTED, extension.to_dict())

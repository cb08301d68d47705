"""The session API: a REST API with AWS_IAM auth in front of the session state machine.

The routes (:mod:`tasks.api_routes`) name the cluster, so IAM can grant one cluster's
sessions and not another's; who calls (:mod:`tasks.api_identity`) comes from API
Gateway's SigV4-verified request context, never from the body; the session service
(:mod:`tasks.api_sessions`) checks a start request with the same function as
ValidateRequest, so bad input gets a 400 naming the field before anything starts.
Errors are ``{"message", "field"}``; ``field`` is null when no field is at fault, and a
429 also names the ``limit``.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from botocore.exceptions import ClientError

from tasks.api_identity import ApiError
from tasks.api_routes import json_response, router
from tasks.common.errors import InvalidRequest, StackMisconfigured
from tasks.common.observability import THROTTLING_CODES, error_code, logger, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

app = APIGatewayRestResolver()
app.include_router(router)


def _error(
    status: HTTPStatus, message: str, field: str | None = None, **extra: Any
) -> Response[Any]:
    return json_response(status, {"message": message, "field": field, **extra})


@app.exception_handler(ApiError)
def _api_error(error: ApiError) -> Response[Any]:
    logger.info("refused", extra={"status": error.status.value, "field": error.field})
    extra = {"limit": error.limit} if error.limit else {}
    return _error(error.status, error.message, error.field, **extra)


@app.exception_handler(InvalidRequest)
def _invalid_request(error: InvalidRequest) -> Response[Any]:
    logger.info("refused an invalid request", extra={"field": error.field})
    return _error(HTTPStatus.BAD_REQUEST, str(error), error.field)


@app.exception_handler(StackMisconfigured)
def _misconfigured(error: StackMisconfigured) -> Response[Any]:
    logger.error("the stack is misconfigured", extra={"problem": str(error)})
    return _error(HTTPStatus.INTERNAL_SERVER_ERROR, str(error))


@app.exception_handler(ClientError)
def _aws_error(error: ClientError) -> Response[Any]:
    code = error_code(error)
    logger.warning("an AWS call failed", extra={"code": code})
    if code in THROTTLING_CODES:
        return _error(HTTPStatus.SERVICE_UNAVAILABLE, "AWS is throttling the API: retry shortly")
    return _error(HTTPStatus.BAD_GATEWAY, f"an AWS call failed: {code}")


@app.exception_handler(NotFoundError)
def _no_route(_: NotFoundError) -> Response[Any]:
    event = app.current_event
    parts = event.path.split("/")
    # API Gateway would not route an empty segment to a path parameter; name it anyway.
    if len(parts) >= 3 and parts[1] == "clusters" and not parts[2]:
        return _error(HTTPStatus.BAD_REQUEST, "cluster: is required", "cluster")
    if len(parts) == 5 and parts[1] == "clusters" and parts[3] == "sessions" and not parts[4]:
        return _error(HTTPStatus.BAD_REQUEST, "sessionId: is required", "sessionId")
    return _error(HTTPStatus.NOT_FOUND, f"no route {event.http_method} {event.path}")


@app.exception_handler(Exception)
def _unexpected(error: Exception) -> Response[Any]:
    logger.exception("unexpected error")
    request_id = app.lambda_context.aws_request_id if app.lambda_context else "unknown"
    return _error(HTTPStatus.INTERNAL_SERVER_ERROR, f"internal error (request {request_id})")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The API's Lambda proxy integration."""
    request_id = (event.get("requestContext") or {}).get("requestId")
    logger.append_keys(apiRequestId=request_id)
    return app.resolve(event, context)

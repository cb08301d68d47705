"""ValidateRequest, property by property: whatever the input, a session or a named refusal.

The handler runs as Lambda runs it (the event Step Functions sends, the settings from the
environment), with an EKS that holds one private cluster. Any exception other than
InvalidRequest fails the property, with the input that caused it.
"""

from __future__ import annotations

import copy
import ipaddress
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import event, example, given

import tasks.validate_request as validate_request_module
from tasks.common.errors import InvalidRequest, field_label
from tasks.common.models import Session, format_timestamp
from tasks.common.session_request import DEFAULT_REQUESTED_BY
from tasks.validate_request import ALLOWED_FIELDS, handler
from tests.property.strategies import (
    MAX_CIDRS,
    MAX_DURATION_MINUTES,
    ODD_VALUES,
    SAMPLE_KEY,
    WIDEST_IPV4_PREFIX,
    WIDEST_IPV6_PREFIX,
    Mutation,
    any_requests,
    fields_it_may_name,
    kind_of_field,
    near_valid_requests,
    valid_requests,
)
from tests.unit.support import LambdaContextStub

pytestmark = [pytest.mark.property, pytest.mark.unit]

REGION = "us-east-1"
CLUSTER = "demo"
PUBLIC_ONLY_CLUSTER = "public-only"
SESSION_ID = "s-property"
STARTED_AT = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
DEFAULT_DURATION_MINUTES = 60
#: The stack's limits, as the function's environment gives them (the strategies' limits).
ENVIRONMENT = {
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "DEFAULT_DURATION_MINUTES": str(DEFAULT_DURATION_MINUTES),
    "MAX_DURATION_MINUTES": str(MAX_DURATION_MINUTES),
    "WIDEST_IPV4_PREFIX": str(WIDEST_IPV4_PREFIX),
    "WIDEST_IPV6_PREFIX": str(WIDEST_IPV6_PREFIX),
    "MAX_ALLOWED_CIDRS": str(MAX_CIDRS),
    "ALLOWED_CLUSTERS": "*",
    "SESSION_STATE_MACHINE_ARN": f"arn:aws:states:{REGION}:123456789012:stateMachine:s",
}
#: Variables of the host that would change what the function reads.
REMOVED = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "ADMIN_PRINCIPAL_ARNS")
SESSION_KEYS = {*ALLOWED_FIELDS, "sessionId", "startedAt", "expiresAt", "latestExpiresAt"}


class PrivateClusterEks:
    """EKS as ValidateRequest sees it: ``describe_cluster`` answering as AWS does, for the
    private cluster ``demo`` and the public-only ``public-only``.

    A stand-in rather than moto (the workflow-level properties run on the local AWS): it
    answers in microseconds where moto takes milliseconds, so hundreds of examples run in
    seconds.
    """

    meta = SimpleNamespace(region_name=REGION)

    def describe_cluster(self, *, name: str) -> dict[str, Any]:
        if name not in (CLUSTER, PUBLIC_ONLY_CLUSTER):
            error = {
                "Code": "ResourceNotFoundException",
                "Message": f"No cluster found for name: {name}.",
            }
            raise ClientError({"Error": error}, "DescribeCluster")
        private = name == CLUSTER
        vpc_config = {"endpointPrivateAccess": private, "endpointPublicAccess": not private}
        return {"cluster": {"name": name, "status": "ACTIVE", "resourcesVpcConfig": vpc_config}}


class NoRunningSessions:
    """Step Functions as the caps see it when no other session runs."""

    def get_paginator(self, operation: str) -> Any:
        assert operation == "list_executions"
        return SimpleNamespace(paginate=lambda **_: [{"executions": []}])


@pytest.fixture(scope="module", autouse=True)
def function_environment() -> Iterator[None]:
    """The function's environment, and its EKS client, for every example of the module."""
    with pytest.MonkeyPatch.context() as env:
        for name, value in ENVIRONMENT.items():
            env.setenv(name, value)
        for name in REMOVED:
            env.delenv(name, raising=False)
        eks = PrivateClusterEks()
        sfn = NoRunningSessions()
        env.setattr(
            validate_request_module, "client", lambda service: eks if service == "eks" else sfn
        )
        yield


def validate(request: Any) -> dict[str, Any]:
    """Run the ValidateRequest handler on ``request`` as the session machine would."""
    event = {
        "sessionId": SESSION_ID,
        "startedAt": format_timestamp(STARTED_AT),
        "request": request,
    }
    return handler(event, LambdaContextStub())


def outcome(request: Any) -> dict[str, Any] | InvalidRequest:
    """The session document, or the InvalidRequest. Any other exception propagates."""
    try:
        return validate(request)
    except InvalidRequest as refusal:
        return refusal


def assert_names_a_field(refusal: InvalidRequest, request: Any) -> None:
    assert refusal.field in fields_it_may_name(request), (refusal.field, request)
    assert str(refusal) == f"{refusal.field}: {refusal.problem}"
    assert refusal.problem.strip()


def assert_is_a_session(document: dict[str, Any], request: Any) -> None:
    assert set(document) == SESSION_KEYS
    assert Session.from_dict(document).to_dict() == document
    assert document["sessionId"] == SESSION_ID
    assert document["cluster"] == request["cluster"] == CLUSTER


@example(request=None)
@example(request={"": "an unknown field with no name"})
@example(
    request={"cluster": CLUSTER, "sshPublicKey": SAMPLE_KEY, "allowedCidrs": ["fe80::%eth0/64"]}
)
@given(request=any_requests(CLUSTER))
def test_any_input_becomes_a_session_or_a_refusal_naming_a_field(request: Any) -> None:
    """For any JSON input, ValidateRequest returns a session document or raises
    InvalidRequest whose message starts with a field the request has or may have; it never
    raises anything else."""
    # WHEN ValidateRequest runs on the input
    result = outcome(request)
    # THEN it is either a refusal naming a field, or this request's session
    if isinstance(result, InvalidRequest):
        assert_names_a_field(result, request)
        event(f"refused: {kind_of_field(result.field)}")
    else:
        assert_is_a_session(result, request)
        event("a session")


@given(mutation=near_valid_requests(CLUSTER))
def test_a_request_wrong_in_one_place_is_refused_naming_that_place(mutation: Mutation) -> None:
    """A valid request with one field given a bad value, a required field left out, or an
    unknown field added, is refused, and the refusal names that field (or its entry)."""
    # GIVEN a request that is valid but for one field
    request, field = mutation
    # WHEN it is validated
    with pytest.raises(InvalidRequest) as raised:
        validate(request)
    # THEN the refusal names exactly that field
    named = raised.value.field
    assert named == field_label(field) or named.startswith(f"{field}["), (named, field)
    assert_names_a_field(raised.value, request)
    event(f"refused: {kind_of_field(named)}")


@given(mutation=near_valid_requests(CLUSTER, ODD_VALUES))
def test_an_odd_value_is_accepted_or_refused_naming_its_field(mutation: Mutation) -> None:
    """A valid request with one field given an odd value (any text, a near miss) is
    either accepted or refused naming that field: never another field."""
    # GIVEN a request that is valid but for, perhaps, one field
    request, field = mutation
    # WHEN it is validated
    result = outcome(request)
    # THEN the only field a refusal may name is the one changed
    if isinstance(result, InvalidRequest):
        assert result.field == field_label(field) or result.field.startswith(f"{field}["), (
            result,
            field,
        )
    else:
        assert_is_a_session(result, request)


def expected_session(request: dict[str, Any]) -> dict[str, Any]:
    """The session a valid request must become, worked out here independently."""
    duration = request.get("durationMinutes") or DEFAULT_DURATION_MINUTES
    return {
        "sessionId": SESSION_ID,
        "cluster": request["cluster"],
        "sshPublicKey": " ".join(request["sshPublicKey"].split()),
        "allowedCidrs": [str(ipaddress.ip_network(cidr)) for cidr in request["allowedCidrs"]],
        "durationMinutes": duration,
        "requestedBy": request.get("requestedBy", DEFAULT_REQUESTED_BY),
        "startedAt": format_timestamp(STARTED_AT),
        "expiresAt": format_timestamp(STARTED_AT + timedelta(minutes=duration)),
        # The latest it may be extended to: the stack's maximum from its start.
        "latestExpiresAt": format_timestamp(STARTED_AT + timedelta(minutes=MAX_DURATION_MINUTES)),
        # The stack allows public sessions only; no requester id is "".
        "accessMode": "public",
        "requesterId": request.get("requesterId") or "",
    }


@given(request=valid_requests(CLUSTER))
def test_a_valid_request_becomes_its_session_and_the_session_is_a_fixed_point(
    request: dict[str, Any],
) -> None:
    """Every valid request becomes its session: the key on one single-spaced line, each
    network in canonical form, the defaults filled in, the expiry `duration` after the
    start. Validating the session's own fields again gives the same session."""
    # WHEN a valid request is validated
    session = validate(request)
    # THEN it is the session worked out independently
    assert session == expected_session(request)
    # AND the session, as a request, is already normalized
    assert validate({field: session[field] for field in ALLOWED_FIELDS}) == session


def comparable(result: dict[str, Any] | InvalidRequest) -> Any:
    if isinstance(result, InvalidRequest):
        return ("InvalidRequest", result.field, str(result))
    return result


@given(request=any_requests(CLUSTER))
def test_validation_is_deterministic_and_leaves_its_input_alone(request: Any) -> None:
    """Validating the same input twice gives the same session or the same refusal, word for
    word, and validation never changes the input it was given."""
    # GIVEN an input, and a copy of it
    original = copy.deepcopy(request)
    # WHEN it is validated twice
    first = comparable(outcome(request))
    second = comparable(outcome(copy.deepcopy(original)))
    # THEN both answers are the same, and the input is as it was
    assert first == second
    assert request == original

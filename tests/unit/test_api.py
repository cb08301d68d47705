"""The session API: who asks, who is an admin, and bad input as a 4xx naming the field."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tasks import api, api_routes
from tasks import api_requests as requests
from tasks import api_session_changes as changes
from tasks import api_sessions as sessions
from tasks import api_view as views
from tasks.api_identity import ApiError, Caller, caller_from_event, is_admin, may_manage
from tasks.common.aws import client as aws_client
from tasks.common.errors import InvalidRequest
from tasks.common.settings import Settings, SettingsError
from tasks.common.validation import SESSION_ID_PATTERN
from tests.unit.keys import ed25519_key
from tests.unit.support import (
    EKS_CLUSTER,
    LambdaContextStub,
    client,
    failing_client,
    load_event,
    wait_until,
)

pytestmark = pytest.mark.unit

ACCOUNT = "123456789012"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
BOB = f"arn:aws:iam::{ACCOUNT}:user/bob"
ADMIN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/ops/BastionAdmin"
MACHINE_NAME = "fargate-bastion-session"
MACHINE_ARN = f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:{MACHINE_NAME}"
END_SESSION = "fargate-bastion-EndSessionFunction-TEST"
ROOT = Path(__file__).resolve().parents[2]


def assumed(role: str, session: str, account: str = ACCOUNT, partition: str = "aws") -> str:
    return f"arn:{partition}:sts::{account}:assumed-role/{role}/{session}"


def event(
    method: str = "POST",
    path: str = f"/clusters/{EKS_CLUSTER}/sessions",
    body: Any = None,
    *,
    user_arn: str | None = ALICE,
    source_ip: str | None = "203.0.113.7",
    query: dict[str, str] | None = None,
    raw_body: str | None = None,
) -> dict[str, Any]:
    """A REST proxy event as API Gateway sends it after verifying the SigV4 signature."""
    sample = load_event("api_post_sessions")
    parts = path.split("/")
    names = {2: "cluster", 4: "id"} if parts[1:2] == ["clusters"] else {}
    parameters = {name: parts[i] for i, name in names.items() if i < len(parts)}
    resource = "/".join(f"{{{names[i]}}}" if i in names else part for i, part in enumerate(parts))
    sample.update(
        resource=resource,
        path=path,
        httpMethod=method,
        queryStringParameters=query,
        pathParameters=parameters or None,
        body=raw_body if raw_body is not None else (None if body is None else json.dumps(body)),
    )
    sample["requestContext"].update(resourcePath=resource, httpMethod=method, path=f"/v1{path}")
    sample["requestContext"]["identity"].update(userArn=user_arn, sourceIp=source_ip)
    return sample


def answer(response: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return response["statusCode"], json.loads(response["body"])


def settings(**changes: Any) -> Settings:
    values: dict[str, Any] = {
        "session_state_machine_arn": MACHINE_ARN,
        "end_session_function_name": END_SESSION,
        "admin_principal_arns": (ADMIN_ROLE,),
        "allowed_clusters": ("*",),
        **changes,
    }
    return Settings(**values)


# ----------------------------------------------------------------------- identity


def test_the_caller_comes_from_the_verified_request_context() -> None:
    caller = caller_from_event(load_event("api_post_sessions"))
    assert caller == Caller(
        user_arn=ALICE,
        account_id=ACCOUNT,
        source_ip="203.0.113.7",
        user_id="AIDAJQABLZS4A3QDU576Q",
    )


@pytest.mark.parametrize("user", [None, 7, ""])
def test_a_caller_without_a_user_id_has_none(user: Any) -> None:
    sample = load_event("api_post_sessions")
    sample["requestContext"]["identity"]["user"] = user
    assert caller_from_event(sample).user_id is None


@pytest.mark.parametrize(
    "request_context",
    [
        None,
        {},
        {"identity": None},
        {"identity": {"userArn": None, "sourceIp": "203.0.113.7"}},
        {"identity": {"userArn": "alice", "sourceIp": "203.0.113.7"}},
    ],
    ids=["no context", "no identity", "null identity", "unsigned", "not an ARN"],
)
def test_a_request_without_a_verified_identity_is_forbidden(request_context: Any) -> None:
    with pytest.raises(ApiError) as raised:
        caller_from_event({"requestContext": request_context})
    assert raised.value.status == 403
    assert "SigV4" in raised.value.message


@pytest.mark.parametrize(
    ("source_ip", "cidrs"),
    [
        ("203.0.113.7", ["203.0.113.7/32"]),
        ("2001:DB8:0:0:0:0:0:7", ["2001:db8::7/128"]),
        ("test-invoke-source-ip", None),
        (None, None),
    ],
)
def test_the_default_cidr_is_the_callers_own_address(
    source_ip: str | None, cidrs: list[str] | None
) -> None:
    assert Caller(ALICE, source_ip=source_ip).default_cidrs() == cidrs


@pytest.mark.parametrize(
    ("user_arn", "short"),
    [
        (ALICE, "alice"),
        (f"arn:aws:iam::{ACCOUNT}:user/team/bob.smith", "bob-smith"),
        (assumed("AWSReservedSSO_Admin_0123", "carol@example.com"), "carol"),
        (assumed("ci", "botocore-session-1700000000"), "botocore-session-1700000000"),
        (f"arn:aws:iam::{ACCOUNT}:root", "root"),
        (f"arn:aws:sts::{ACCOUNT}:federated-user/dave", "dave"),
        (assumed("ci", "@@@"), "session"),
    ],
)
def test_generated_session_ids_are_readable_and_valid(user_arn: str, short: str) -> None:
    caller = Caller(user_arn)
    assert caller.short_name == short
    session_id = requests.new_session_id(caller)
    assert session_id.startswith(f"{short}-")
    assert SESSION_ID_PATTERN.fullmatch(session_id)
    assert requests.new_session_id(caller) != session_id


def test_a_very_long_name_still_gives_a_valid_session_id() -> None:
    session_id = requests.new_session_id(Caller(assumed("r", "x" * 64)))
    assert SESSION_ID_PATTERN.fullmatch(session_id)
    assert len(session_id) <= 80


# ----------------------------------------------------------------------- admins


@pytest.mark.parametrize(
    ("caller", "admins", "expected"),
    [
        # An IAM user listed by its ARN.
        (ALICE, [ALICE], True),
        (BOB, [ALICE], False),
        # A session of a listed role, whose ARN has a path the session ARN drops.
        (assumed("BastionAdmin", "carol"), [ADMIN_ROLE], True),
        (assumed("BastionAdmin", "dave"), [f"arn:aws:iam::{ACCOUNT}:role/BastionAdmin"], True),
        # Not a prefix match, not another account, not another partition.
        (assumed("BastionAdminX", "carol"), [ADMIN_ROLE], False),
        (assumed("Bastion", "carol"), [ADMIN_ROLE], False),
        (assumed("BastionAdmin", "carol", account="210987654321"), [ADMIN_ROLE], False),
        (assumed("BastionAdmin", "carol", partition="aws-cn"), [ADMIN_ROLE], False),
        # A user is not the role of the same name, nor a role the user of that name.
        (f"arn:aws:iam::{ACCOUNT}:user/BastionAdmin", [ADMIN_ROLE], False),
        (assumed("alice", "alice"), [ALICE], False),
        # One listed session admits that session only.
        (assumed("Ops", "carol"), [assumed("Ops", "carol")], True),
        (assumed("Ops", "mallory"), [assumed("Ops", "carol")], False),
        # Nobody, when nobody is listed; nothing for a malformed ARN.
        (ALICE, [], False),
        ("not-an-arn", [ADMIN_ROLE], False),
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/BastionAdmin", [ADMIN_ROLE], False),
    ],
)
def test_who_is_an_admin(caller: str, admins: list[str], expected: bool) -> None:
    assert is_admin(caller, admins) is expected


def test_the_requester_and_admins_may_manage_a_session_and_no_one_else() -> None:
    config = settings()
    assert may_manage(Caller(ALICE), ALICE, config)
    assert may_manage(Caller(assumed("BastionAdmin", "carol")), ALICE, config)
    assert not may_manage(Caller(BOB), ALICE, config)
    # Sessions started outside the API may name no requester: admins only.
    assert not may_manage(Caller(ALICE), None, config)


def test_admin_principals_are_parsed_and_checked() -> None:
    parsed = Settings.from_environ(
        {"ADMIN_PRINCIPAL_ARNS": f" {ADMIN_ROLE} , {ALICE},{assumed('Ops', 'carol')}"}
    )
    assert parsed.admin_principal_arns == (ADMIN_ROLE, ALICE, assumed("Ops", "carol"))
    assert Settings.from_environ({}).admin_principal_arns == ()
    for bad in ("*", "arn:aws:iam::123:user/alice", "arn:aws:s3:::bucket", "BastionAdmin"):
        with pytest.raises(SettingsError, match="ADMIN_PRINCIPAL_ARNS"):
            Settings.from_environ({"ADMIN_PRINCIPAL_ARNS": bad})


# ----------------------------------------------------------------------- request checks


def test_body_parsing() -> None:
    assert requests.parse_body('{"cluster": "demo"}') == {"cluster": "demo"}
    encoded = base64.b64encode(b'{"cluster": "demo"}').decode()
    assert requests.parse_body(encoded, is_base64=True) == {"cluster": "demo"}
    for raw, base64_encoded in (
        (None, False),
        ("", False),
        ("{not json", False),
        ("[1, 2]", False),
        ('"text"', False),
        ("%%%", True),
        (base64.b64encode(b"\xff\xfe").decode(), True),
    ):
        with pytest.raises(ApiError) as raised:
            requests.parse_body(raw, base64_encoded)
        assert (raised.value.status, raised.value.field) == (400, "body")


def test_a_start_request_is_the_callers() -> None:
    # GIVEN a body with neither requester nor CIDRs, from alice at an IPv6 address
    body = {"cluster": EKS_CLUSTER, "sshPublicKey": ed25519_key("alice@laptop")}
    caller = Caller(ALICE, source_ip="2001:db8::7")

    class Eks:
        meta = type("Meta", (), {"region_name": "us-east-1"})

        def describe_cluster(self, name: str) -> dict[str, Any]:
            return {
                "cluster": {"name": name, "resourcesVpcConfig": {"endpointPrivateAccess": True}}
            }

    # WHEN it is checked
    request = requests.check_start_request(
        EKS_CLUSTER, body, caller, settings=settings(), eks=Eks(), new_id=lambda _: "alice-1"
    )
    # THEN the requester and the door come from the signed context
    assert request.request.requested_by == ALICE
    assert request.request.allowed_cidrs == ("2001:db8::7/128",)
    assert request.session_id == "alice-1"
    assert request.request.duration_minutes == 60
    # AND the execution input is stable (a retry must send the same input)
    assert json.loads(request.execution_input()) == {
        "cluster": EKS_CLUSTER,
        "sshPublicKey": body["sshPublicKey"],
        "accessMode": "public",
        "allowedCidrs": ["2001:db8::7/128"],
        "durationMinutes": 60,
        "requestedBy": ALICE,
    }
    assert request.execution_input() == request.execution_input()


class PrivateEks:
    meta = type("Meta", (), {"region_name": "us-east-1"})

    def describe_cluster(self, name: str) -> dict[str, Any]:
        return {"cluster": {"name": name, "resourcesVpcConfig": {"endpointPrivateAccess": True}}}


def test_a_private_start_request_carries_the_callers_user_id_and_no_cidrs() -> None:
    # GIVEN alice, signed as an assumed role, asking for a private session
    body = {"sshPublicKey": ed25519_key("alice@laptop"), "accessMode": "private"}
    caller = Caller(assumed("Dev", "alice"), source_ip="203.0.113.7", user_id="AROAEXAMPLE:alice")
    # WHEN it is checked on a stack that allows both modes
    request = requests.check_start_request(
        EKS_CLUSTER,
        body,
        caller,
        settings=settings(access_modes=("public", "private")),
        eks=PrivateEks(),
        new_id=lambda _: "alice-1",
    )
    # THEN no address becomes allowedCidrs, and the requester id is the caller's user id
    assert json.loads(request.execution_input()) == {
        "cluster": EKS_CLUSTER,
        "sshPublicKey": body["sshPublicKey"],
        "accessMode": "private",
        "durationMinutes": 60,
        "requestedBy": assumed("Dev", "alice"),
        "requesterId": "AROAEXAMPLE:alice",
    }
    # AND a stack whose default is private needs no accessMode in the body
    default = requests.check_start_request(
        EKS_CLUSTER,
        {"sshPublicKey": body["sshPublicKey"]},
        caller,
        settings=settings(access_modes=("private", "public")),
        eks=PrivateEks(),
    )
    assert default.request.access_mode == "private"
    assert default.request.allowed_cidrs == ()


def test_a_public_start_request_carries_the_callers_user_id_too() -> None:
    caller = Caller(ALICE, source_ip="203.0.113.7", user_id="AIDAEXAMPLE")
    request = requests.check_start_request(
        EKS_CLUSTER,
        {"sshPublicKey": ed25519_key()},
        caller,
        settings=settings(),
        eks=PrivateEks(),
    )
    assert request.request.requester_id == "AIDAEXAMPLE"
    assert request.request.allowed_cidrs == ("203.0.113.7/32",)


@pytest.mark.parametrize("mode", ["public", "private"])
def test_an_identity_no_tag_can_hold_is_refused_naming_the_identity(mode: str) -> None:
    # GIVEN a caller whose role session name has a character tags cannot hold (STS allows ,)
    caller = Caller(
        assumed("Dev", "alice,ops"), source_ip="203.0.113.7", user_id="AROAEXAMPLE:alice,ops"
    )
    body = {"sshPublicKey": ed25519_key(), "accessMode": mode}
    # WHEN it asks for a session
    with pytest.raises(InvalidRequest) as refused:
        requests.check_start_request(
            EKS_CLUSTER,
            body,
            caller,
            settings=settings(access_modes=("public", "private")),
            eks=PrivateEks(),
        )
    # THEN the refusal says the value is the caller's own identity, and what to change
    assert refused.value.field == "requestedBy"
    assert "not ','" in refused.value.problem
    assert "taken from your signed IAM identity" in refused.value.problem
    assert "role session name" in refused.value.problem


def test_list_parameters() -> None:
    assert sessions.list_limit(None) == sessions.DEFAULT_LIST_LIMIT
    assert sessions.list_limit({"limit": "5"}) == 5
    for query, field in (
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"status": "RUNNING"}, "status"),
        ({"owner": "bob"}, "owner"),
    ):
        with pytest.raises(InvalidRequest) as raised:
            sessions.list_limit(query)
        assert raised.value.field == field


# ----------------------------------------------------------------------- the handler


@pytest.fixture
def api_env(monkeypatch: pytest.MonkeyPatch, eks_cluster: str) -> Iterator[str]:
    """The API function's environment, a private EKS cluster and the session machine."""
    role = client("iam").create_role(
        RoleName="session-machine",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    definition = {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}
    arn = client("stepfunctions").create_state_machine(
        name=MACHINE_NAME, definition=json.dumps(definition), roleArn=role
    )["stateMachineArn"]
    monkeypatch.setenv("SESSION_STATE_MACHINE_ARN", arn)
    monkeypatch.setenv("END_SESSION_FUNCTION_NAME", END_SESSION)
    monkeypatch.setenv("ADMIN_PRINCIPAL_ARNS", ADMIN_ROLE)
    monkeypatch.setenv("ALLOWED_CLUSTERS", EKS_CLUSTER)
    yield arn


def executions(machine_arn: str) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = client("stepfunctions").list_executions(
        stateMachineArn=machine_arn
    )["executions"]
    return listed


def call(request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return answer(api.handler(request, LambdaContextStub()))


def valid_body(**changes: Any) -> dict[str, Any]:
    return {"cluster": EKS_CLUSTER, "sshPublicKey": ed25519_key("alice@laptop"), **changes}


def test_post_starts_the_session_as_the_caller(api_env: str) -> None:
    # WHEN alice posts a request without requester or CIDRs
    status, body = call(event(body=valid_body(durationMinutes=30)))
    # THEN the session starts, named after her, with her identity and address
    assert status == 201, body
    assert body["sessionId"].startswith("alice-")
    assert body["status"] == "RUNNING"
    (execution,) = executions(api_env)
    assert execution["name"] == body["sessionId"]
    assert execution["executionArn"] == body["executionArn"]
    described = client("stepfunctions").describe_execution(executionArn=body["executionArn"])
    started = json.loads(described["input"])
    assert started["requestedBy"] == ALICE
    assert started["allowedCidrs"] == ["203.0.113.7/32"]
    assert started["durationMinutes"] == 30


def test_a_retry_with_the_same_session_id_starts_nothing_new(api_env: str) -> None:
    request = valid_body(sessionId="alice-debug-1")
    first = call(event(body=request))
    again = call(event(body=request))
    assert first[0] == again[0] == 201
    assert first[1]["executionArn"] == again[1]["executionArn"]
    assert len(executions(api_env)) == 1
    # The same id with another request is a conflict, naming the field
    status, body = call(event(body={**request, "durationMinutes": 15}))
    assert (status, body["field"]) == (409, "sessionId")
    # So is another user reusing the id with the very same body
    status, _ = call(event(body=request, user_arn=BOB))
    assert status == 409
    assert len(executions(api_env)) == 1


BAD_BODIES = [
    ("not JSON", "{cluster:", "body"),
    ("not an object", "[1, 2]", "body"),
    ("empty", "", "body"),
    ("sets requestedBy", valid_body(requestedBy=BOB), "requestedBy"),
    ("sets requesterId", valid_body(requesterId="AIDABOB"), "requesterId"),
    ("a mode the stack does not allow", valid_body(accessMode="private"), "accessMode"),
    ("an unknown mode", valid_body(accessMode="hidden"), "accessMode"),
    ("a mode that is not text", valid_body(accessMode=True), "accessMode"),
    ("unknown field", valid_body(instanceType="t3.micro"), "instanceType"),
    ("cluster missing", valid_body(cluster=None), "cluster"),
    ("cluster not a string", valid_body(cluster=["demo"]), "cluster"),
    ("unknown cluster", valid_body(cluster="no-such-cluster"), "cluster"),
    ("key missing", {"cluster": EKS_CLUSTER}, "sshPublicKey"),
    ("bad key", valid_body(sshPublicKey="ssh-ed25519 not-base64!!"), "sshPublicKey"),
    ("key with options", valid_body(sshPublicKey='from="*" ' + ed25519_key()), "sshPublicKey"),
    ("open to the world", valid_body(allowedCidrs=["0.0.0.0/0"]), "allowedCidrs[0]"),
    ("CIDRs not a list", valid_body(allowedCidrs="203.0.113.7/32"), "allowedCidrs"),
    ("duration zero", valid_body(durationMinutes=0), "durationMinutes"),
    ("duration too long", valid_body(durationMinutes=100000), "durationMinutes"),
    ("duration a string", valid_body(durationMinutes="60"), "durationMinutes"),
    ("duration true", valid_body(durationMinutes=True), "durationMinutes"),
    ("bad session id", valid_body(sessionId="no spaces"), "sessionId"),
    ("session id a number", valid_body(sessionId=7), "sessionId"),
]


@pytest.mark.parametrize(
    ("body", "field"), [case[1:] for case in BAD_BODIES], ids=[case[0] for case in BAD_BODIES]
)
def test_bad_input_is_400_naming_the_field_and_starts_nothing(
    api_env: str, body: Any, field: str
) -> None:
    raw = body if isinstance(body, str) else json.dumps(body)
    status, answered = call(event(raw_body=raw))
    assert status == 400, answered
    assert answered["field"] == field
    assert answered["message"].startswith(f"{field}:")
    assert executions(api_env) == []


def test_no_address_and_no_cidrs_is_400_naming_allowed_cidrs(api_env: str) -> None:
    status, body = call(event(body=valid_body(), source_ip="test-invoke-source-ip"))
    assert (status, body["field"]) == (400, "allowedCidrs")
    # Given explicitly, the CIDRs need no source address.
    status, _ = call(
        event(body=valid_body(allowedCidrs=["198.51.100.0/28"]), source_ip="test-invoke-source-ip")
    )
    assert status == 201


def test_an_unsigned_request_is_403_and_starts_nothing(api_env: str) -> None:
    status, body = call(event(body=valid_body(), user_arn=None))
    assert status == 403
    assert body["field"] is None
    assert executions(api_env) == []


def test_unknown_session_is_404_and_a_bad_id_400(api_env: str) -> None:
    for method in ("GET", "DELETE"):
        status, body = call(event(method, f"/clusters/{EKS_CLUSTER}/sessions/nobody-1"))
        assert (status, body["field"]) == (404, None), body
        status, body = call(event(method, f"/clusters/{EKS_CLUSTER}/sessions/bad%20id"))
        assert (status, body["field"]) == (400, "sessionId"), body


def test_an_unknown_route_is_404_json(api_env: str) -> None:
    status, body = call(event("PUT", "/sessions"))
    assert status == 404
    assert body == {"message": "no route PUT /sessions", "field": None}


def test_list_shows_the_callers_sessions_and_an_admin_everyones(api_env: str) -> None:
    # GIVEN sessions of alice and bob
    alice = [call(event(body=valid_body()))[1]["sessionId"] for _ in range(2)]
    bob = call(event(body=valid_body(), user_arn=BOB))[1]["sessionId"]

    def listed(user_arn: str, **query: str) -> dict[str, Any]:
        status, body = call(event("GET", "/sessions", user_arn=user_arn, query=query or None))
        assert status == 200, body
        return body

    # THEN each sees their own, newest first, and an admin's role session sees all
    assert {s["sessionId"] for s in listed(ALICE)["sessions"]} == set(alice)
    assert [s["sessionId"] for s in listed(BOB)["sessions"]] == [bob]
    admin = listed(assumed("BastionAdmin", "carol"))
    assert {s["sessionId"] for s in admin["sessions"]} == {*alice, bob}
    assert admin["truncated"] is False
    session = listed(BOB)["sessions"][0]
    assert session["requestedBy"] == BOB
    assert session["cluster"] == EKS_CLUSTER
    # AND the limit truncates
    limited = listed(assumed("BastionAdmin", "carol"), limit="1")
    assert len(limited["sessions"]) == 1
    assert limited["truncated"] is True


def test_listing_reads_the_running_sessions_only_not_every_execution_ever_run(
    api_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN eight sessions, of which six have ended and two still run (one of alice's)
    monkeypatch.setenv("MAX_SESSIONS_PER_CALLER", "10")
    sfn = aws_client("stepfunctions")
    for index in range(8):
        call(event(body=valid_body(), user_arn=BOB if index % 2 else ALICE))
    for execution in executions(api_env)[2:]:
        sfn.stop_execution(executionArn=execution["executionArn"])
    calls: list[str] = []
    sfn.meta.events.register("before-call.*.*", lambda model, **_: calls.append(model.name))
    # WHEN alice lists her sessions
    status, body = call(event("GET", "/sessions"))
    # THEN she sees her running one, and it cost one list and one read per running session
    assert status == 200
    assert [s["requestedBy"] for s in body["sessions"]] == [ALICE]
    assert sorted(calls) == ["DescribeExecution", "DescribeExecution", "ListExecutions"]


def test_a_cluster_route_lists_that_clusters_sessions_only(api_env: str) -> None:
    call(event(body=valid_body()))
    status, mine = call(event("GET", f"/clusters/{EKS_CLUSTER}/sessions"))
    assert status == 200 and len(mine["sessions"]) == 1
    status, other = call(event("GET", "/clusters/ledger/sessions"))
    assert (status, other["sessions"]) == (200, [])


def test_a_start_past_the_callers_cap_is_429_naming_the_limit_and_starts_nothing(
    api_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_SESSIONS_PER_CALLER", "1")
    request = valid_body(sessionId="alice-one")
    first = call(event(body=request))
    assert first[0] == 201
    status, body = call(event(body=valid_body()))
    assert status == 429
    assert body["limit"] == "MaxSessionsPerCaller"
    assert body["message"].startswith(f"MaxSessionsPerCaller: {ALICE} already has 1 running")
    assert len(executions(api_env)) == 1
    # A retry of the running session is not a new one: it still answers 201.
    assert call(event(body=request))[0] == 201
    # Another caller is not held back by alice's cap.
    assert call(event(body=valid_body(), user_arn=BOB))[0] == 201


def test_an_empty_allowed_clusters_refuses_every_start_naming_the_setting(
    api_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALLOWED_CLUSTERS", "")
    status, body = call(event(body=valid_body()))
    assert status == 500
    assert "AllowedClusters" in body["message"] and "* for every cluster" in body["message"]
    assert executions(api_env) == []


def test_a_body_naming_another_cluster_than_the_route_is_400(api_env: str) -> None:
    status, body = call(event(body=valid_body(cluster="ledger")))
    assert (status, body["field"]) == (400, "cluster")
    assert executions(api_env) == []


HOSTILE_IDS = [
    ("wildcard", "*"),
    ("question-mark-encoded", "%3F"),
    ("dot-dot", ".."),
    ("slash-encoded", "a%2Fb"),
    ("dot-dot-slash-encoded", "..%2F..%2Fvictim"),
    ("prefix-wildcard", "sess*"),
    ("non-ascii", "s\u00e9ssion"),
    ("non-ascii-encoded", "s%C3%A9ssion"),
    ("huge", "a" * 10_000),
]


@pytest.mark.parametrize(
    "session_id", [case[1] for case in HOSTILE_IDS], ids=[case[0] for case in HOSTILE_IDS]
)
@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_a_hostile_session_id_in_the_route_is_400_naming_the_field(
    api_env: str, method: str, session_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sfn = aws_client("stepfunctions")
    calls: list[str] = []
    sfn.meta.events.register("before-call.*.*", lambda model, **_: calls.append(model.name))
    status, body = call(event(method, f"/clusters/{EKS_CLUSTER}/sessions/{session_id}"))
    assert (status, body["field"]) == (400, "sessionId"), body
    assert body["message"].startswith("sessionId: ")
    assert len(body["message"]) < 200
    # Refused before the id reached any AWS call.
    assert calls == []


def test_an_empty_session_id_is_400_naming_the_field(api_env: str) -> None:
    status, body = call(event("DELETE", f"/clusters/{EKS_CLUSTER}/sessions/"))
    assert (status, body["field"]) == (400, "sessionId"), body


@pytest.mark.parametrize("cluster", ["*", "..", "a%2Fb", "-x", "x" * 101, ""])
def test_a_hostile_cluster_in_the_route_is_400_naming_the_field(api_env: str, cluster: str) -> None:
    status, body = call(event("POST", f"/clusters/{cluster}/sessions", body=valid_body()))
    assert (status, body["field"]) == (400, "cluster"), body
    assert executions(api_env) == []


def test_a_session_is_found_only_under_its_own_cluster(api_env: str) -> None:
    # GIVEN alice's session on the payments cluster
    started = call(event(body=valid_body()))[1]
    session_id = started["sessionId"]
    # THEN under another cluster's route it does not exist, for reading or for ending
    for method in ("GET", "DELETE"):
        status, body = call(event(method, f"/clusters/ledger/sessions/{session_id}"))
        assert status == 404, body
    status, body = call(event("GET", f"/clusters/{EKS_CLUSTER}/sessions/{session_id}"))
    assert (status, body["cluster"]) == (200, EKS_CLUSTER)


def test_the_old_routes_without_a_cluster_are_gone(api_env: str) -> None:
    for method, path in (
        ("POST", "/sessions"),
        ("GET", "/sessions/x-1"),
        ("DELETE", "/sessions/x-1"),
    ):
        status, _ = call(event(method, path, body=valid_body()))
        assert status == 404
    assert executions(api_env) == []


def test_aws_throttling_is_503_and_other_aws_errors_502(
    api_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api_routes, "client", lambda service: failing_client(service))
    status, body = call(event(body=valid_body()))
    assert status == 503
    assert "retry" in body["message"]
    monkeypatch.setattr(
        api_routes,
        "client",
        lambda service: failing_client(service, {"DescribeCluster": "AccessDenied"}),
    )
    status, body = call(event(body=valid_body()))
    assert status == 502
    assert "AccessDenied" in body["message"]


def test_an_unexpected_error_is_500_with_the_request_id(
    api_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(api_routes, "start_session", broken)
    status, body = call(event(body=valid_body()))
    assert status == 500
    assert LambdaContextStub().aws_request_id in body["message"]
    assert "a bug" not in body["message"]


def test_log_lines_name_the_caller_and_the_session(api_env: str) -> None:
    from tasks.common.observability import logger

    stream = io.StringIO()
    previous = logger.registered_handler.setStream(stream)
    try:
        status, body = call(event(body=valid_body()))
    finally:
        logger.registered_handler.setStream(previous)
    assert status == 201
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line]
    (started,) = [line for line in lines if line["message"] == "started a session"]
    assert started["correlation_id"] == body["sessionId"]
    assert started["caller"] == ALICE
    assert started["allowedCidrs"] == ["203.0.113.7/32"]
    assert "sshPublicKey" not in json.dumps(lines)


# ----------------------------------------------------------------------- GET /sessions/{id}

T0 = datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC)
READY = {
    "sessionId": "alice-1",
    "cluster": EKS_CLUSTER,
    "address": "54.1.2.3",
    "sshCommand": "ssh bastion@54.1.2.3",
    "expiresAt": "2026-11-27T11:00:00Z",
    "controlPlaneRuleScope": "cluster-security-group",
    "hostPublicKeys": [
        {
            "type": "ssh-ed25519",
            "key": "AAAAC3NzaC1lZDI1NTE5AAAAIDCwem5rI205a+eRL4AHmg+UeFKL55GAdQKbNSAtsNlG",
            "fingerprint": "SHA256:KKjwf9X6plj+WwJG3BN6t6G9kfAN2LC0OtAwQsf0VkM",
        }
    ],
}


def entered(name: str, second: int) -> dict[str, Any]:
    return {
        "timestamp": T0.replace(second=second),
        "type": "TaskStateEntered",
        "stateEnteredEventDetails": {"name": name},
    }


def exited(name: str, second: int, output: Any = None) -> dict[str, Any]:
    details = {"name": name, "output": json.dumps(output or {})}
    return {
        "timestamp": T0.replace(second=second),
        "type": "TaskStateExited",
        **{"stateExitedEventDetails": details},
    }


def described(status: str, **extra: Any) -> dict[str, Any]:
    request = {"cluster": EKS_CLUSTER, "requestedBy": ALICE}
    return {
        "name": "alice-1",
        "executionArn": f"{MACHINE_ARN.replace('stateMachine', 'execution')}:alice-1",
        "status": status,
        "startDate": T0,
        "input": json.dumps(request),
        **extra,
    }


SETUP = [
    entered("ValidateRequest", 0),
    exited("ValidateRequest", 1),
    entered("FindControlPlane", 1),
]
HOLDING = [
    *SETUP,
    exited("FindControlPlane", 2),
    entered("BastionReady", 3),
    exited("BastionReady", 3, {"ready": READY}),
    entered("HoldSession", 3),
]


def test_a_starting_session_shows_its_steps_but_no_address() -> None:
    view = views.view_session(described("RUNNING"), SETUP).to_dict()
    assert view["phase"] == "starting"
    assert view["address"] is None and view["sshCommand"] is None
    assert view["hostPublicKeys"] is None
    assert view["steps"] == [
        {
            "name": "ValidateRequest",
            "enteredAt": "2026-11-27T10:00:00.000Z",
            "exitedAt": "2026-11-27T10:00:01.000Z",
        },
        {"name": "FindControlPlane", "enteredAt": "2026-11-27T10:00:01.000Z", "exitedAt": None},
    ]
    assert (view["requestedBy"], view["cluster"]) == (ALICE, EKS_CLUSTER)
    assert view["endReason"] is None and view["error"] is None


def test_a_ready_session_shows_where_to_connect_and_until_when() -> None:
    view = views.view_session(described("RUNNING"), HOLDING).to_dict()
    assert view["phase"] == "ready"
    assert view["address"] == "54.1.2.3"
    assert view["sshCommand"] == "ssh bastion@54.1.2.3"
    assert view["expiresAt"] == "2026-11-27T11:00:00Z"
    # AND the host keys to pin, as the bastion reported them
    assert view["hostPublicKeys"] == READY["hostPublicKeys"]
    # AND it says the rule went on the cluster security group, which also reaches the nodes
    assert view["controlPlaneRuleScope"] == "cluster-security-group"


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        (
            {"bastionTask": {"taskArn": "arn:aws:ecs:us-east-1:1:task/c/abc", "started": True}},
            "arn:aws:ecs:us-east-1:1:task/c/abc",
        ),
        ({"bastionTask": {"taskArn": 7}}, None),
        ({"bastionTask": "arn"}, None),
        (["not", "an", "object"], None),
    ],
    ids=["started", "not-a-string", "not-an-object", "not-a-state"],
)
def test_the_view_names_the_bastion_task_only_from_a_well_formed_output(
    output: Any, expected: str | None
) -> None:
    events = [*SETUP, entered("RunBastionTask", 4), exited("RunBastionTask", 5, output)]
    assert views.view_session(described("RUNNING"), events).task_arn == expected
    assert views.view_session(described("RUNNING"), SETUP).task_arn is None


PRIVATE_TARGET = "ecs:fargate-bastion_0f9e8d7c6b5a49382716a5b4c3d2e1f0_0f9e8d7c-2531612879"
PRIVATE_READY = {
    **READY,
    "address": "",
    "sshCommand": (
        f'ssh -o ProxyCommand="aws ssm start-session --target {PRIVATE_TARGET} '
        '--document-name fargate-bastion-BastionSessionDocument-TEST --region us-east-1" '
        "bastion@alice-1"
    ),
    "accessMode": "private",
    "sessionManager": {
        "target": PRIVATE_TARGET,
        "documentName": "fargate-bastion-BastionSessionDocument-TEST",
        "region": "us-east-1",
    },
}


def private_history(ready: Any = None) -> list[dict[str, Any]]:
    validated = {"session": {"sessionId": "alice-1", "accessMode": "private"}}
    steps = [entered("ValidateRequest", 0), exited("ValidateRequest", 1, validated)]
    if ready is None:
        return steps
    return [*steps, entered("BastionReady", 3), exited("BastionReady", 3, {"ready": ready})]


def test_a_private_session_shows_its_mode_from_the_start_and_its_session_manager_once_ready() -> (
    None
):
    starting = views.view_session(described("RUNNING"), private_history()).to_dict()
    assert (starting["accessMode"], starting["sessionManager"]) == ("private", None)
    view = views.view_session(described("RUNNING"), private_history(PRIVATE_READY)).to_dict()
    assert view["phase"] == "ready"
    assert view["accessMode"] == "private"
    assert view["sessionManager"] == PRIVATE_READY["sessionManager"]
    assert view["address"] == ""
    assert view["sshCommand"] == PRIVATE_READY["sshCommand"]
    # AND once it ends, it no longer offers a way in
    ending = views.view_session(
        described("RUNNING"), [*private_history(PRIVATE_READY), entered("StopBastionTask", 9)]
    ).to_dict()
    assert (ending["accessMode"], ending["sessionManager"]) == ("private", None)


def test_a_public_session_says_it_is_public_and_offers_no_session_manager() -> None:
    view = views.view_session(described("RUNNING"), HOLDING).to_dict()
    # A session validated before the modes existed, whose ready document names none
    assert (view["accessMode"], view["sessionManager"]) == ("public", None)
    public = {**READY, "accessMode": "public"}
    events = [*SETUP, exited("FindControlPlane", 2), exited("BastionReady", 3, {"ready": public})]
    assert views.view_session(described("RUNNING"), events).to_dict()["accessMode"] == "public"


@pytest.mark.parametrize("manager", ["ecs:x", ["a"], 7])
def test_a_session_manager_that_is_not_an_object_is_not_shown(manager: Any) -> None:
    ready = {**PRIVATE_READY, "sessionManager": manager}
    view = views.view_session(described("RUNNING"), private_history(ready)).to_dict()
    assert view["sessionManager"] is None


def test_a_session_in_teardown_is_ending_and_no_longer_offers_its_address() -> None:
    view = views.view_session(described("RUNNING"), [*HOLDING, entered("StopBastionTask", 9)])
    assert (view.phase, view.address, view.expires_at) == ("ending", None, READY["expiresAt"])


def test_an_ended_session_says_why() -> None:
    output = json.dumps({"end": {"reason": "ended-by-user", "endedAt": "2026-11-27T10:30:00Z"}})
    view = views.view_session(
        described("SUCCEEDED", output=output, stopDate=T0.replace(minute=30)), HOLDING
    )
    assert (view.phase, view.end_reason, view.error) == ("ended", "ended-by-user", None)
    assert view.stopped_at == "2026-11-27T10:30:00.000Z"
    assert view.address is None


def test_a_failed_session_says_what_went_wrong() -> None:
    cause = json.dumps(
        {"errorType": "ClusterNotPrivate", "errorMessage": "cluster 'demo' has no private endpoint"}
    )
    view = views.view_session(described("FAILED", error="ClusterNotPrivate", cause=cause), SETUP)
    assert (view.phase, view.end_reason) == ("failed", "failed")
    assert view.error == {
        "error": "ClusterNotPrivate",
        "message": "cluster 'demo' has no private endpoint",
    }
    plain = views.view_session(described("FAILED", error="States.Runtime", cause="plain text"), [])
    assert plain.error == {"error": "States.Runtime", "message": "plain text"}


def test_a_stopped_session_says_whether_the_user_stopped_it() -> None:
    aborted = {
        "timestamp": T0,
        "type": "ExecutionAborted",
        "executionAbortedEventDetails": {"error": views.ABORTED_BY_USER, "cause": "..."},
    }
    by_user = views.view_session(described("ABORTED"), [*SETUP, aborted])
    assert (by_user.phase, by_user.end_reason) == ("ended", "ended-by-user")
    from_console = views.view_session(described("ABORTED"), SETUP)
    assert (from_console.phase, from_console.end_reason) == ("ended", "aborted")


def test_the_phases_know_every_state_of_the_session_machine() -> None:
    from tasks.common.session_states import EXTEND_SESSION, SETUP_STEPS
    from workflows.session import FIRST_TEARDOWN_STEP

    asl = json.loads((ROOT / "workflows" / "asl" / "session.asl.json").read_text())
    names = set(asl["States"])
    # The starting and holding states are exactly the machine's setup steps, BastionReady
    # and ExtendSession (an extension holds again).
    assert views.STARTING_STATES | views.HOLDING_STATES == {
        *SETUP_STEPS,
        views.READY_STATE,
        EXTEND_SESSION,
    }
    assert views.STARTING_STATES | views.HOLDING_STATES <= names
    assert FIRST_TEARDOWN_STEP in names - views.STARTING_STATES - views.HOLDING_STATES


# ----------------------------------------------------------------------- DELETE /sessions/{id}


class FakeLambda:
    """Answers Invoke with a fixed payload; records what was invoked."""

    def __init__(self, payload: dict[str, Any], function_error: bool) -> None:
        self.payload = payload
        self.function_error = function_error
        self.invoked: list[dict[str, Any]] = []

    def invoke(self, **params: Any) -> dict[str, Any]:
        self.invoked.append(params)
        answered: dict[str, Any] = {"Payload": io.BytesIO(json.dumps(self.payload).encode())}
        if self.function_error:
            answered["FunctionError"] = "Unhandled"
        return answered


NOT_HELD = {"errorType": "SessionNotHeld", "errorMessage": "session alice-1 is not holding"}


def waiting_execution(aws: Any, state_name: str, requested_by: str = ALICE) -> tuple[str, Settings]:
    """A RUNNING execution named alice-1 waiting in a state called ``state_name``."""
    role = aws.client("iam").create_role(
        RoleName="machine",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    definition = {
        "StartAt": state_name,
        "States": {state_name: {"Type": "Wait", "Seconds": 3600, "End": True}},
    }
    sfn = aws.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=MACHINE_NAME, definition=json.dumps(definition), roleArn=role
    )["stateMachineArn"]
    arn = sfn.start_execution(
        stateMachineArn=machine,
        name="alice-1",
        input=json.dumps({"cluster": EKS_CLUSTER, "requestedBy": requested_by}),
    )["executionArn"]
    wait_until(lambda: any("stateEnteredEventDetails" in e for e in views.history(sfn, arn)))
    return arn, settings(session_state_machine_arn=machine)


def end(aws: Any, config: Settings, fake: FakeLambda, user_arn: str = ALICE) -> changes.Ending:
    return changes.end_session(
        EKS_CLUSTER,
        "alice-1",
        Caller(user_arn),
        settings=config,
        sfn=aws.client("stepfunctions"),
        lambda_client=fake,
    )


def test_delete_asks_end_session_to_end_a_holding_session(local_aws: Any) -> None:
    _, config = waiting_execution(local_aws, "HoldSession")
    fake = FakeLambda({"sessionId": "alice-1", "reason": "ended-by-user"}, function_error=False)
    ending = end(local_aws, config, fake)
    assert ending.to_dict()["phase"] == "ending"
    (invoked,) = fake.invoked
    assert invoked["FunctionName"] == END_SESSION
    assert invoked["InvocationType"] == "RequestResponse"
    assert json.loads(invoked["Payload"]) == {"sessionId": "alice-1", "reason": "ended-by-user"}


def test_delete_during_setup_stops_the_execution(local_aws: Any) -> None:
    arn, config = waiting_execution(local_aws, "WaitForBastionAddress")
    ending = end(local_aws, config, FakeLambda(NOT_HELD, function_error=True))
    assert "stopped" in ending.how
    described = local_aws.wait_for_execution(arn)
    assert described["status"] == "ABORTED"


def test_delete_while_tearing_down_stops_nothing(local_aws: Any) -> None:
    arn, config = waiting_execution(local_aws, "StopBastionTask")
    ending = end(local_aws, config, FakeLambda(NOT_HELD, function_error=True))
    assert ending.how == "the session is already ending"
    sfn = local_aws.client("stepfunctions")
    assert sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"


def test_delete_of_an_ended_session_is_409_without_invoking_anything(local_aws: Any) -> None:
    arn, config = waiting_execution(local_aws, "HoldSession")
    local_aws.client("stepfunctions").stop_execution(executionArn=arn)
    local_aws.wait_for_execution(arn)
    fake = FakeLambda({}, function_error=False)
    with pytest.raises(ApiError) as raised:
        end(local_aws, config, fake)
    assert raised.value.status == 409
    assert "already ended (ABORTED)" in raised.value.message
    assert fake.invoked == []


def test_delete_by_someone_else_is_403_without_invoking_anything(local_aws: Any) -> None:
    arn, config = waiting_execution(local_aws, "HoldSession")
    fake = FakeLambda({}, function_error=False)
    with pytest.raises(ApiError) as raised:
        end(local_aws, config, fake, user_arn=BOB)
    assert raised.value.status == 403
    assert fake.invoked == []
    sfn = local_aws.client("stepfunctions")
    assert sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"


def test_end_session_failing_otherwise_is_502(local_aws: Any) -> None:
    _, config = waiting_execution(local_aws, "HoldSession")
    broken = FakeLambda({"errorType": "AccessDenied", "errorMessage": "no"}, function_error=True)
    with pytest.raises(ApiError) as raised:
        end(local_aws, config, broken)
    assert raised.value.status == 502
    assert "AccessDenied: no" in raised.value.message

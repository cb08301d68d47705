"""ValidateRequest: every rule, and nothing exists after a refusal."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from moto import mock_aws

from tasks.common.errors import InvalidRequest, SessionLimitReached, StackMisconfigured
from tasks.common.settings import Settings
from tasks.validate_request import ValidateRequestInput, handler, validate_request
from tests.unit.keys import blob_of, ecdsa_key, ed25519_key, key_line, rsa_key, ssh_string
from tests.unit.support import LambdaContextStub, assert_nothing_created, client, load_event

pytestmark = pytest.mark.unit

STARTED_AT = "2026-11-27T10:00:00Z"
MACHINE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:fargate-bastion-session"


@pytest.fixture(scope="module", autouse=True)
def eks_clusters() -> Iterator[None]:
    """One moto for the module: validation creates nothing, so the tests can share it.

    Holds the private cluster "demo" and "public-only", whose endpoint is public only.
    Sharing it makes "nothing was created" a check across every refusal in the module.
    """
    with mock_aws(config={"core": {"reset_boto3_session": False}}):
        ec2 = client("ec2")
        vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        for name, private in (("demo", True), ("public-only", False)):
            client("eks").create_cluster(
                name=name,
                roleArn="arn:aws:iam::123456789012:role/eks",
                resourcesVpcConfig={"subnetIds": [subnet_id], "endpointPrivateAccess": private},
            )
        # The session machine, whose RUNNING executions the caps count (none by default).
        client("stepfunctions").create_state_machine(
            name="fargate-bastion-session",
            definition='{"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}',
            roleArn="arn:aws:iam::123456789012:role/sfn",
        )
        yield


@pytest.fixture(autouse=True)
def function_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The handler's environment: every cluster served, the session machine to count."""
    monkeypatch.setenv("ALLOWED_CLUSTERS", "*")
    monkeypatch.setenv("SESSION_STATE_MACHINE_ARN", MACHINE_ARN)


@pytest.fixture
def settings() -> Settings:
    """The stack's defaults, serving every cluster (``*``), with its session machine."""
    return Settings(allowed_clusters=("*",), session_state_machine_arn=MACHINE_ARN)


def good_request(**changes: Any) -> dict[str, Any]:
    """A valid request body, with ``changes`` applied (a value of ... removes the field)."""
    body: dict[str, Any] = {
        "cluster": "demo",
        "sshPublicKey": ed25519_key(),
        "allowedCidrs": ["203.0.113.7/32"],
        "durationMinutes": 30,
        "requestedBy": "alice",
    }
    body.update(changes)
    return {key: value for key, value in body.items() if value is not ...}


def validate(
    body: Any, settings: Settings, session_id: Any = "s-0001", started_at: str = STARTED_AT
):
    request = ValidateRequestInput(session_id=session_id, started_at=started_at, request=body)
    return validate_request(
        request, settings=settings, eks=client("eks"), sfn=client("stepfunctions")
    )


def test_a_valid_request_becomes_a_session(settings: Settings) -> None:
    # GIVEN a request with a key pasted with extra spaces and an IPv6 network in capitals
    key_type, blob, comment = ed25519_key("bob@desk").split(" ")
    body = good_request(
        sshPublicKey=f"{key_type}  {blob}  {comment}\n",
        allowedCidrs=["198.51.100.0/24", "2001:DB8:0:0::/64"],
        durationMinutes=90,
        requestedBy="arn:aws:sts::123456789012:assumed-role/Ops/bob",
    )
    # WHEN it is validated, with a start time that has fractions and an offset
    session = validate(body, settings, started_at="2026-11-27T11:00:00.618+01:00")
    # THEN the session is normalized and expires 90 minutes after the start (in UTC)
    assert session.to_dict() == {
        "sessionId": "s-0001",
        "cluster": "demo",
        "sshPublicKey": f"{key_type} {blob} {comment}",
        "allowedCidrs": ["198.51.100.0/24", "2001:db8::/64"],
        "durationMinutes": 90,
        "requestedBy": "arn:aws:sts::123456789012:assumed-role/Ops/bob",
        "startedAt": "2026-11-27T10:00:00Z",
        "expiresAt": "2026-11-27T11:30:00Z",
        # Its start plus the stack's MaxDurationMinutes (480): the latest it may be extended to.
        "latestExpiresAt": "2026-11-27T18:00:00Z",
        # The stack's default mode; a request not from the API names no requester id
        "accessMode": "public",
        "requesterId": "",
    }


def test_defaults_for_duration_and_requested_by(settings: Settings) -> None:
    body = good_request(durationMinutes=..., requestedBy=...)
    session = validate(body, replace(settings, default_duration_minutes=45), started_at=STARTED_AT)
    assert session.duration_minutes == 45
    assert session.requested_by == "unspecified"
    assert session.expires_at == "2026-11-27T10:45:00Z"


@pytest.mark.parametrize(
    "key",
    [
        lambda: rsa_key(2048),
        lambda: ecdsa_key(ec.SECP384R1()),
        lambda: ed25519_key(comment=""),
    ],
    ids=["rsa-2048", "ecdsa-p384", "ed25519-no-comment"],
)
def test_accepts_other_key_types(settings: Settings, key) -> None:
    line = key()
    assert validate(good_request(sshPublicKey=line), settings).ssh_public_key == line


def test_the_handler_returns_the_session_from_the_event_file(
    context: LambdaContextStub,
) -> None:
    # GIVEN the event Step Functions sends (execution name, start time, input)
    event = load_event("validate_request")
    # WHEN the function runs
    output = handler(event, context)
    # THEN it returns the session, keyed in camelCase
    assert output["sessionId"] == "s-0001"
    assert output["cluster"] == "demo"
    assert output["sshPublicKey"] == event["request"]["sshPublicKey"]
    assert output["startedAt"] == "2026-11-27T10:00:00Z"
    assert output["expiresAt"] == "2026-11-27T11:00:00Z"
    assert output["allowedCidrs"] == ["203.0.113.7/32", "2001:db8:1234::/64"]


def test_the_handler_raises_invalid_request_by_name(context: LambdaContextStub) -> None:
    event = load_event("validate_request")
    event["request"]["allowedCidrs"] = ["0.0.0.0/0"]
    with pytest.raises(InvalidRequest) as raised:
        handler(event, context)
    assert type(raised.value).__name__ == "InvalidRequest"
    assert str(raised.value).startswith("allowedCidrs[0]: ")
    assert_nothing_created("s-0001")


def _ed25519_blob() -> bytes:
    return blob_of(ed25519_key())


# (case id, request body or a change to it, the field the message must name, message part)
BAD_REQUESTS: list[tuple[str, Any, str, str]] = [
    ("not-an-object", ["demo"], "request", "JSON object"),
    ("null", None, "request", "JSON object"),
    ("unknown-field", good_request(region="eu-west-1"), "region", "not a known field"),
    ("field-with-an-empty-name", good_request(**{"": 1}), "''", "not a known field"),
    ("cluster-missing", good_request(cluster=...), "cluster", "required"),
    ("cluster-not-a-string", good_request(cluster=42), "cluster", "must be a string"),
    ("cluster-bad-start", good_request(cluster="-demo"), "cluster", "not a valid EKS"),
    ("cluster-bad-char", good_request(cluster="demo!"), "cluster", "not a valid EKS"),
    ("cluster-too-long", good_request(cluster="a" * 101), "cluster", "not a valid EKS"),
    (
        "cluster-unknown",
        good_request(cluster="ghost"),
        "cluster",
        "no EKS cluster named 'ghost' in us-east-1",
    ),
    ("cluster-public-only", good_request(cluster="public-only"), "cluster", "no private endpoint"),
    ("key-missing", good_request(sshPublicKey=...), "sshPublicKey", "required"),
    ("key-not-a-string", good_request(sshPublicKey=["ssh-ed25519"]), "sshPublicKey", "string"),
    ("key-empty", good_request(sshPublicKey="  "), "sshPublicKey", "empty"),
    (
        "key-two-lines",
        good_request(sshPublicKey=f"{ed25519_key()}\n{ed25519_key()}"),
        "sshPublicKey",
        "one line",
    ),
    (
        "key-option-command",
        good_request(sshPublicKey=f'command="id" {ed25519_key()}'),
        "sshPublicKey",
        "options prefix",
    ),
    (
        "key-option-from",
        good_request(sshPublicKey=f'from="10.0.0.1" {ed25519_key()}'),
        "sshPublicKey",
        "options prefix",
    ),
    (
        "key-dsa",
        good_request(sshPublicKey=key_line("ssh-dss", ssh_string(b"ssh-dss"))),
        "sshPublicKey",
        "not supported",
    ),
    ("key-bad-base64", good_request(sshPublicKey="ssh-ed25519 AAAA%%%%"), "sshPublicKey", "base64"),
    (
        "key-type-mismatch",
        good_request(sshPublicKey=key_line("ecdsa-sha2-nistp256", _ed25519_blob())),
        "sshPublicKey",
        "not 'ecdsa-sha2-nistp256'",
    ),
    (
        "key-truncated",
        good_request(sshPublicKey=key_line("ssh-ed25519", _ed25519_blob()[:20])),
        "sshPublicKey",
        "truncated",
    ),
    ("key-rsa-1024", good_request(sshPublicKey=rsa_key(1024)), "sshPublicKey", "1024 bits"),
    (
        "key-ed25519-short",
        good_request(
            sshPublicKey=key_line("ssh-ed25519", ssh_string(b"ssh-ed25519") + ssh_string(b"k" * 16))
        ),
        "sshPublicKey",
        "16 bytes",
    ),
    ("cidrs-missing", good_request(allowedCidrs=...), "allowedCidrs", "required"),
    ("cidrs-empty", good_request(allowedCidrs=[]), "allowedCidrs", "non-empty list"),
    (
        "cidrs-not-a-list",
        good_request(allowedCidrs="203.0.113.7/32"),
        "allowedCidrs",
        "non-empty list",
    ),
    (
        "cidrs-not-strings",
        good_request(allowedCidrs=["203.0.113.7/32", 7]),
        "allowedCidrs[1]",
        "string",
    ),
    (
        "cidrs-too-many",
        good_request(allowedCidrs=[f"203.0.113.{i}/32" for i in range(6)]),
        "allowedCidrs",
        "at most 5",
    ),
    (
        "cidrs-invalid",
        good_request(allowedCidrs=["203.0.113.7/33"]),
        "allowedCidrs[0]",
        "not a network",
    ),
    (
        "cidrs-host-bits",
        good_request(allowedCidrs=["203.0.113.0/32", "198.51.100.1/24"]),
        "allowedCidrs[1]",
        "host bits",
    ),
    (
        "cidrs-ipv4-anywhere",
        good_request(allowedCidrs=["0.0.0.0/0"]),
        "allowedCidrs[0]",
        "whole internet",
    ),
    (
        "cidrs-ipv6-anywhere",
        good_request(allowedCidrs=["::/0"]),
        "allowedCidrs[0]",
        "whole internet",
    ),
    (
        "cidrs-ipv4-too-wide",
        good_request(allowedCidrs=["10.0.0.0/8"]),
        "allowedCidrs[0]",
        "/24 at most",
    ),
    (
        "cidrs-ipv6-too-wide",
        good_request(allowedCidrs=["2001:db8::/32"]),
        "allowedCidrs[0]",
        "/64 at most",
    ),
    (
        "cidrs-duplicate",
        good_request(allowedCidrs=["203.0.113.7/32", "203.0.113.7"]),
        "allowedCidrs[1]",
        "repeats",
    ),
    ("duration-bool", good_request(durationMinutes=True), "durationMinutes", "whole number"),
    ("duration-string", good_request(durationMinutes="60"), "durationMinutes", "whole number"),
    ("duration-float", good_request(durationMinutes=60.0), "durationMinutes", "whole number"),
    ("duration-zero", good_request(durationMinutes=0), "durationMinutes", "between 1 and 480"),
    (
        "duration-too-long",
        good_request(durationMinutes=481),
        "durationMinutes",
        "between 1 and 480",
    ),
    ("requested-by-not-a-string", good_request(requestedBy=7), "requestedBy", "string"),
    ("requested-by-blank", good_request(requestedBy=" "), "requestedBy", "blank"),
    ("requested-by-too-long", good_request(requestedBy="a" * 257), "requestedBy", "at most 256"),
    (
        "requested-by-newline",
        good_request(requestedBy="alice\nbob"),
        "requestedBy",
        "control characters",
    ),
    (
        "requested-by-bell",
        good_request(requestedBy="alice\x07"),
        "requestedBy",
        "control characters",
    ),
    (
        "requested-by-not-a-tag-value",
        good_request(requestedBy="alice (ops)"),
        "requestedBy",
        "tag value",
    ),
]


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [case[1:] for case in BAD_REQUESTS],
    ids=[case[0] for case in BAD_REQUESTS],
)
def test_refuses_before_creating_anything(
    settings: Settings, body: Any, field: str, problem: str
) -> None:
    # WHEN the request is validated
    with pytest.raises(InvalidRequest) as raised:
        validate(body, settings)
    # THEN the message names the field, and says what is wrong
    assert raised.value.field == field
    assert str(raised.value).startswith(f"{field}: ")
    assert problem in raised.value.problem
    assert_nothing_created("s-0001")


BOTH_MODES = ("public", "private")
REQUESTER_ID = "AROAEXAMPLE:alice@example.com"


def private_request(**changes: Any) -> dict[str, Any]:
    """A valid private request: no allowedCidrs, the caller's aws:userid."""
    return good_request(
        **{"accessMode": "private", "allowedCidrs": ..., "requesterId": REQUESTER_ID, **changes}
    )


# (case id, the stack's modes, request body, the field the message must name, message part)
BAD_MODE_REQUESTS: list[tuple[str, tuple[str, ...], Any, str, str]] = [
    (
        "mode-the-stack-does-not-allow",
        ("public",),
        private_request(),
        "accessMode",
        "this stack allows only public",
    ),
    (
        "public-on-a-private-only-stack",
        ("private",),
        good_request(accessMode="public"),
        "accessMode",
        "this stack allows only private",
    ),
    (
        "unknown-mode",
        BOTH_MODES,
        good_request(accessMode="secret"),
        "accessMode",
        "public or private",
    ),
    ("mode-a-number", BOTH_MODES, good_request(accessMode=1), "accessMode", "public or private"),
    ("mode-a-list", BOTH_MODES, good_request(accessMode=["private"]), "accessMode", "public or"),
    ("mode-in-capitals", BOTH_MODES, good_request(accessMode="PRIVATE"), "accessMode", "public or"),
    (
        "cidrs-in-private-mode",
        BOTH_MODES,
        private_request(allowedCidrs=["203.0.113.7/32"]),
        "allowedCidrs",
        "private sessions open no inbound port",
    ),
    (
        "empty-cidrs-in-private-mode",
        BOTH_MODES,
        private_request(allowedCidrs=[]),
        "allowedCidrs",
        "private sessions open no inbound port",
    ),
    (
        "cidrs-in-the-default-private-mode",
        ("private", "public"),
        good_request(requesterId=REQUESTER_ID),
        "allowedCidrs",
        "private sessions open no inbound port",
    ),
    (
        "private-without-requester-id",
        BOTH_MODES,
        private_request(requesterId=...),
        "requesterId",
        "required for a private session",
    ),
    (
        "requester-id-with-a-comma",
        BOTH_MODES,
        private_request(requesterId="AROAEXAMPLE:alice,ops"),
        "requesterId",
        "tag value",
    ),
    (
        "requester-id-with-a-newline",
        BOTH_MODES,
        private_request(requesterId="AIDAEXAMPLE\nx"),
        "requesterId",
        "control characters",
    ),
    ("requester-id-a-number", BOTH_MODES, private_request(requesterId=7), "requesterId", "string"),
    ("requester-id-blank", BOTH_MODES, private_request(requesterId=" "), "requesterId", "blank"),
    (
        "requester-id-too-long",
        BOTH_MODES,
        private_request(requesterId="A" * 257),
        "requesterId",
        "at most 256",
    ),
    (
        "requester-id-not-a-tag-value-in-public-mode",
        BOTH_MODES,
        good_request(requesterId="alice (ops)"),
        "requesterId",
        "tag value",
    ),
]


@pytest.mark.parametrize(
    ("modes", "body", "field", "problem"),
    [case[1:] for case in BAD_MODE_REQUESTS],
    ids=[case[0] for case in BAD_MODE_REQUESTS],
)
def test_a_mode_the_stack_refuses_is_refused_before_creating_anything(
    settings: Settings, modes: tuple[str, ...], body: Any, field: str, problem: str
) -> None:
    with pytest.raises(InvalidRequest) as raised:
        validate(body, replace(settings, access_modes=modes))
    assert raised.value.field == field
    assert str(raised.value).startswith(f"{field}: ")
    assert problem in raised.value.problem
    assert_nothing_created("s-0001")


def test_a_private_request_becomes_a_private_session_with_no_cidrs(settings: Settings) -> None:
    session = validate(private_request(), replace(settings, access_modes=BOTH_MODES))
    assert session.access_mode == "private"
    assert session.allowed_cidrs == ()
    assert session.requester_id == REQUESTER_ID


def test_a_request_naming_no_mode_gets_the_stacks_default(settings: Settings) -> None:
    private_first = replace(settings, access_modes=("private", "public"))
    assert validate(private_request(accessMode=...), private_first).access_mode == "private"
    public = validate(good_request(requesterId="AIDAEXAMPLE"), settings)
    assert (public.access_mode, public.requester_id) == ("public", "AIDAEXAMPLE")
    assert public.allowed_cidrs == ("203.0.113.7/32",)


@pytest.mark.parametrize("session_id", ["", "has space", "a" * 81, "s/../x", 17, "s-1\n"])
def test_refuses_a_bad_session_id(settings: Settings, session_id: Any) -> None:
    with pytest.raises(InvalidRequest) as raised:
        validate(good_request(), settings, session_id=session_id)
    assert raised.value.field == "sessionId"
    assert_nothing_created("s-0001")


def test_refuses_a_cluster_the_stack_does_not_serve(settings: Settings) -> None:
    restricted = replace(settings, allowed_clusters=("prod", "staging"))
    with pytest.raises(InvalidRequest) as raised:
        validate(good_request(), restricted)
    assert raised.value.field == "cluster"
    assert "allowed: prod, staging" in raised.value.problem
    assert_nothing_created("s-0001")


def test_the_stack_limits_apply(settings: Settings) -> None:
    # GIVEN a stack that allows /16 networks, two of them, for 20 minutes at most
    roomy = replace(settings, widest_ipv4_prefix=16, max_cidrs=2, max_duration_minutes=20)
    # THEN a /16 passes, a third network does not, and 21 minutes do not
    assert validate(good_request(allowedCidrs=["10.1.0.0/16"], durationMinutes=20), roomy)
    with pytest.raises(InvalidRequest, match=r"allowedCidrs: has 3 entries; at most 2"):
        validate(good_request(allowedCidrs=["10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16"]), roomy)
    with pytest.raises(InvalidRequest, match="durationMinutes: must be between 1 and 20"):
        validate(good_request(durationMinutes=21), roomy)


def test_a_huge_value_is_cut_short_in_the_message(settings: Settings) -> None:
    # GIVEN a request whose network is ten thousand characters long
    body = good_request(allowedCidrs=["1" * 10_000])
    # WHEN it is refused
    with pytest.raises(InvalidRequest) as raised:
        validate(body, settings)
    # THEN the message still names the field, and shows a readable part of the value
    assert str(raised.value).startswith("allowedCidrs")
    assert len(str(raised.value)) < 1_200
    assert "characters)" in str(raised.value)


# ----------------------------------------------------------------------- AllowedClusters


def test_star_serves_every_cluster_and_a_list_only_its_own(settings: Settings) -> None:
    assert validate(good_request(), replace(settings, allowed_clusters=("*",))).cluster == "demo"
    assert validate(good_request(), replace(settings, allowed_clusters=("x", "demo"))).cluster
    with pytest.raises(InvalidRequest, match="'demo' is not a cluster this stack serves"):
        validate(good_request(), replace(settings, allowed_clusters=("x",)))


@pytest.mark.parametrize("allowed", [(), ("*", "demo")], ids=["empty", "star-and-names"])
def test_an_empty_allowed_clusters_refuses_every_request_as_a_deployment_error(
    settings: Settings, allowed: tuple[str, ...]
) -> None:
    # GIVEN a stack whose AllowedClusters is empty (never "all"), or mixes * with names
    misconfigured = replace(settings, allowed_clusters=allowed)
    # WHEN a request that is otherwise perfect arrives
    with pytest.raises(StackMisconfigured) as raised:
        validate(good_request(), misconfigured)
    # THEN it is refused, saying what the operator must do, and nothing exists
    assert "AllowedClusters" in str(raised.value)
    assert "* for every cluster" in str(raised.value)
    assert_nothing_created("s-0001")


def test_the_handler_refuses_when_the_environment_allows_no_cluster(
    context: LambdaContextStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALLOWED_CLUSTERS", "")
    with pytest.raises(StackMisconfigured, match="serves no cluster"):
        handler(load_event("validate_request"), context)


# ----------------------------------------------------------------------- caps


@pytest.fixture
def machine(request: pytest.FixtureRequest) -> Iterator[str]:
    """A session machine of its own for one test; its executions are stopped after it."""
    sfn = client("stepfunctions")
    name = "caps-" + request.node.name.split("[")[0][-40:].replace("_", "-")
    arn = sfn.create_state_machine(
        name=name,
        definition='{"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}',
        roleArn="arn:aws:iam::123456789012:role/sfn",
    )["stateMachineArn"]
    yield arn
    for execution in sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]:
        sfn.stop_execution(executionArn=execution["executionArn"])
    sfn.delete_state_machine(stateMachineArn=arn)


def run(machine: str, name: str, requested_by: str = "alice", cluster: str = "demo") -> None:
    """An execution of the session machine, RUNNING (moto keeps it so until stopped)."""
    body = good_request(requestedBy=requested_by, cluster=cluster)
    client("stepfunctions").start_execution(
        stateMachineArn=machine, name=name, input=json.dumps(body)
    )


def capped(settings: Settings, machine: str, **caps: int) -> Settings:
    values = {f"max_sessions_per_{key}": value for key, value in caps.items()}
    return replace(settings, session_state_machine_arn=machine, **values)


def test_the_first_n_of_a_callers_running_sessions_pass_and_the_next_is_refused(
    settings: Settings, machine: str
) -> None:
    # GIVEN three running executions of alice's, started in this order
    for name in ("a-1", "a-2", "a-3"):
        run(machine, name)
    two_each = capped(settings, machine, caller=2)
    # THEN the first two pass (only the ones started before each count)...
    assert validate(good_request(), two_each, session_id="a-1").session_id == "a-1"
    assert validate(good_request(), two_each, session_id="a-2").session_id == "a-2"
    # ... and the third is refused naming the cap, before anything exists
    with pytest.raises(SessionLimitReached) as raised:
        validate(good_request(), two_each, session_id="a-3")
    assert raised.value.limit == "MaxSessionsPerCaller"
    assert str(raised.value).startswith("MaxSessionsPerCaller: alice already has 2 running")
    assert_nothing_created("a-3")


def test_another_callers_sessions_do_not_count_against_the_caller_cap(
    settings: Settings, machine: str
) -> None:
    for name in ("b-1", "b-2"):
        run(machine, name, requested_by="bob")
    run(machine, "a-1")
    session = validate(good_request(), capped(settings, machine, caller=2), session_id="a-1")
    assert session.requested_by == "alice"


def test_many_callers_cannot_fill_a_cluster_past_its_cap(settings: Settings, machine: str) -> None:
    # GIVEN two sessions on demo, of two callers, and one on another cluster
    run(machine, "a-1", requested_by="alice")
    run(machine, "b-1", requested_by="bob")
    run(machine, "x-1", requested_by="xavier", cluster="other")
    run(machine, "c-1", requested_by="carol")
    # THEN a cluster cap of 2 refuses carol's, naming the cluster cap
    with pytest.raises(SessionLimitReached) as raised:
        validate(good_request(), capped(settings, machine, cluster=2), session_id="c-1")
    assert raised.value.limit == "MaxSessionsPerCluster"
    assert "'demo' already has 2" in str(raised.value)


def test_the_stack_cap_counts_every_running_session(settings: Settings, machine: str) -> None:
    run(machine, "a-1", requested_by="alice")
    run(machine, "b-1", requested_by="bob", cluster="other")
    run(machine, "c-1", requested_by="carol", cluster="third")
    with pytest.raises(SessionLimitReached) as raised:
        validate(good_request(), capped(settings, machine, stack=2), session_id="c-1")
    assert raised.value.limit == "MaxSessionsPerStack"


def test_ended_sessions_free_their_place(settings: Settings, machine: str) -> None:
    sfn = client("stepfunctions")
    run(machine, "a-1")
    run(machine, "a-2")
    first = sfn.list_executions(stateMachineArn=machine)["executions"]
    sfn.stop_execution(executionArn=next(e for e in first if e["name"] == "a-1")["executionArn"])
    assert validate(good_request(), capped(settings, machine, caller=1), session_id="a-2")


def test_below_every_cap_the_check_reads_no_execution(settings: Settings, machine: str) -> None:
    # GIVEN one running session, where the smallest cap is two
    run(machine, "b-1", requested_by="bob")
    run(machine, "a-1")
    sfn = client("stepfunctions")
    calls: list[str] = []
    sfn.meta.events.register("before-call.*.*", lambda model, **_: calls.append(model.name))
    validate_request(
        ValidateRequestInput("a-1", STARTED_AT, good_request()),
        settings=capped(settings, machine, caller=2, cluster=3),
        eks=client("eks"),
        sfn=sfn,
    )
    # THEN the caps cost one listing, and no execution is described
    assert calls == ["ListExecutions"]

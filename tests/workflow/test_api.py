"""The session API on the local AWS: the deployed ApiFunction, invoked with the events API
Gateway sends after verifying a request's SigV4 signature, in front of the real workflow."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from bastion.local.executions import running_executions, wait_for_execution
from bastion.local.lambda_runtime import invocations_paused
from bastion.local.waits import WAIT_SECONDS
from tasks.common.validation import SESSION_ID_PATTERN
from tests.workflow.harness import (
    API_SAMPLE_EVENT,
    REQUESTER,
    TEMPLATE,
    TEST_IMAGE,
    ApiAnswer,
    Harness,
    call_api,
    deployed,
    ed25519_public_key,
)

pytestmark = pytest.mark.workflow

ACCOUNT = "123456789012"
ALICE = REQUESTER
BOB = f"arn:aws:iam::{ACCOUNT}:user/bob"
#: The admin role, with a path: its sessions' ARNs drop the path.
ADMIN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/ops/BastionAdmin"
CAROL_AS_ADMIN = f"arn:aws:sts::{ACCOUNT}:assumed-role/BastionAdmin/carol"
#: Same role name, another account: not an admin here.
FOREIGN_ADMIN = "arn:aws:sts::210987654321:assumed-role/BastionAdmin/eve"


@pytest.fixture
def harness() -> Iterator[Harness]:
    with deployed(parameters={"AdminPrincipalArns": ADMIN_ROLE}) as fresh:
        yield fresh
        settle(fresh)


def settle(harness: Harness, timeout: float = WAIT_SECONDS) -> None:
    """Let what the stack's rules started finish: a session that ended ABORTED or FAILED
    gets the teardown machine, which must not be cut short as the local AWS stops."""
    harness.aws.events.wait_until_idle(timeout)
    session_machine = harness.stack.state_machine_arn("SessionStateMachine")
    deadline = time.monotonic() + timeout
    for arn in running_executions(harness.sfn):
        if not arn.startswith(session_machine.replace(":stateMachine:", ":execution:") + ":"):
            wait_for_execution(harness.sfn, arn, max(deadline - time.monotonic(), 0.1))


def sessions_path(harness: Harness, cluster: str | None = None) -> str:
    """The route of the cluster's sessions (the seeded cluster's by default)."""
    return f"/clusters/{cluster or harness.cluster.name}/sessions"


def session_path(harness: Harness, session_id: str) -> str:
    return f"{sessions_path(harness)}/{session_id}"


def body(harness: Harness, **changes: Any) -> dict[str, Any]:
    """A valid POST body: no cluster (the route's), no requester (never), no CIDRs (the
    caller's address)."""
    return {
        "sshPublicKey": ed25519_public_key(),
        "durationMinutes": 480,
        **changes,
    }


def start(harness: Harness, caller: str = ALICE, **request: Any) -> ApiAnswer:
    answer = call_api(harness, "POST", sessions_path(harness), caller=caller, **request)
    assert answer.status == 201, answer
    harness.started.append(answer.body["executionArn"])
    return answer


def started_executions(harness: Harness) -> list[dict[str, Any]]:
    machine = harness.stack.state_machine_arn("SessionStateMachine")
    listed: list[dict[str, Any]] = harness.sfn.list_executions(stateMachineArn=machine)[
        "executions"
    ]
    return listed


def execution_input(harness: Harness, arn: str) -> dict[str, Any]:
    request: dict[str, Any] = json.loads(harness.sfn.describe_execution(executionArn=arn)["input"])
    return request


def wait_until_entered(
    harness: Harness, arn: str, state: str, timeout: float = WAIT_SECONDS
) -> None:
    deadline = time.monotonic() + timeout
    while state not in harness.states_entered(arn):
        assert time.monotonic() < deadline, f"{arn} never entered {state}"
        time.sleep(0.05)


def end_and_finish(harness: Harness, session_id: str, arn: str, caller: str = ALICE) -> None:
    """Clean up: end the session through the API and wait for its teardown."""
    assert (
        call_api(harness, "DELETE", session_path(harness, session_id), caller=caller).status == 202
    )
    assert harness.finish(arn)["status"] == "SUCCEEDED"


# ----------------------------------------------------------------------- the deployed API


def test_every_deployed_method_needs_aws_iam_and_proxies_to_the_api_function(
    harness: Harness,
) -> None:
    apigw = harness.aws.client("apigateway")
    api_id = harness.stack.resources["BastionApi"]
    function_arn = harness.stack.function_arn("ApiFunction")
    methods = {}
    for resource in apigw.get_resources(restApiId=api_id)["items"]:
        for http_method in resource.get("resourceMethods", {}):
            method = apigw.get_method(
                restApiId=api_id, resourceId=resource["id"], httpMethod=http_method
            )
            methods[(http_method, resource["path"])] = method
    assert set(methods) == {
        ("POST", "/clusters/{cluster}/sessions"),
        ("GET", "/clusters/{cluster}/sessions"),
        ("GET", "/clusters/{cluster}/sessions/{id}"),
        ("DELETE", "/clusters/{cluster}/sessions/{id}"),
        ("GET", "/clusters/{cluster}/sessions/{id}/resources"),
        ("POST", "/clusters/{cluster}/sessions/{id}/extensions"),
        ("GET", "/sessions"),
    }
    for route, method in methods.items():
        assert method["authorizationType"] == "AWS_IAM", route
        integration = method["methodIntegration"]
        assert integration["type"] == "AWS_PROXY", route
        assert function_arn in integration["uri"], route
    # API Gateway may invoke the function (its resource policy), and the stage is v1.
    policy = json.loads(
        harness.aws.client("lambda").get_policy(FunctionName=function_arn)["Policy"]
    )
    principals = {statement["Principal"]["Service"] for statement in policy["Statement"]}
    assert principals == {"apigateway.amazonaws.com"}
    assert harness.stack.outputs["ApiUrl"] == (
        f"https://{api_id}.execute-api.us-east-1.amazonaws.com/v1"
    )


# ----------------------------------------------------------------------- POST /sessions


def test_a_signed_request_starts_a_session_as_the_caller_from_the_callers_address(
    harness: Harness,
) -> None:
    # WHEN alice posts a body with neither requester nor CIDRs, from 198.51.100.23
    answer = start(harness, body=body(harness), source_ip="198.51.100.23")

    # THEN the session is hers, named after her, and open to her address only
    session_id = answer.body["sessionId"]
    assert session_id.startswith("alice-") and SESSION_ID_PATTERN.fullmatch(session_id)
    assert answer.body["status"] == "RUNNING"
    assert answer.headers["Location"] == f"/clusters/payments/sessions/{session_id}"
    request = execution_input(harness, answer.body["executionArn"])
    assert request["requestedBy"] == ALICE
    assert request["allowedCidrs"] == ["198.51.100.23/32"]
    # AND the workflow builds it with that door
    ready = harness.wait_until_holding(answer.body["executionArn"], session_id)
    assert ready["session"]["requestedBy"] == ALICE
    assert ready["session"]["allowedCidrs"] == ["198.51.100.23/32"]
    end_and_finish(harness, session_id, answer.body["executionArn"])


def test_an_ipv6_caller_gets_a_single_address_slash_128(harness: Harness) -> None:
    answer = start(harness, body=body(harness), source_ip="2001:db8:4006:812::200e")
    request = execution_input(harness, answer.body["executionArn"])
    assert request["allowedCidrs"] == ["2001:db8:4006:812::200e/128"]
    harness.wait_until_holding(answer.body["executionArn"], answer.body["sessionId"])
    end_and_finish(harness, answer.body["sessionId"], answer.body["executionArn"])


def test_the_sample_event_starts_a_session(harness: Harness) -> None:
    # The sample under tests/events is what API Gateway sends, unchanged.
    event = json.loads(API_SAMPLE_EVENT.read_text(encoding="utf-8"))
    answer = harness.aws.client("lambda").invoke(
        FunctionName=harness.stack.function_name("ApiFunction"), Payload=json.dumps(event)
    )
    payload = json.loads(answer["Payload"].read())
    assert payload["statusCode"] == 201, payload
    started = json.loads(payload["body"])
    harness.started.append(started["executionArn"])
    request = execution_input(harness, started["executionArn"])
    assert (request["requestedBy"], request["allowedCidrs"]) == (ALICE, ["203.0.113.7/32"])
    harness.wait_until_holding(started["executionArn"], started["sessionId"])
    end_and_finish(harness, started["sessionId"], started["executionArn"])


def test_a_body_that_sets_requested_by_is_refused_and_starts_nothing(harness: Harness) -> None:
    answer = call_api(harness, "POST", sessions_path(harness), body=body(harness, requestedBy=BOB))
    assert answer.status == 400
    assert answer.body["field"] == "requestedBy"
    assert "signed IAM identity" in answer.body["message"]
    assert started_executions(harness) == []


def test_malformed_requests_are_400_naming_the_field(
    harness: Harness, subtests: pytest.Subtests
) -> None:
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("not JSON", {"raw_body": "{cluster: payments"}, "body"),
        ("not an object", {"raw_body": json.dumps(["payments"])}, "body"),
        ("unknown field", {"body": body(harness, instanceType="t3.micro")}, "instanceType"),
        ("bad key", {"body": body(harness, sshPublicKey="ssh-rsa AAAA")}, "sshPublicKey"),
        (
            "open to the world",
            {"body": body(harness, allowedCidrs=["0.0.0.0/0"])},
            "allowedCidrs[0]",
        ),
        ("another cluster", {"body": body(harness, cluster="no-such-cluster")}, "cluster"),
        ("duration zero", {"body": body(harness, durationMinutes=0)}, "durationMinutes"),
        ("duration too long", {"body": body(harness, durationMinutes=481)}, "durationMinutes"),
        ("bad session id", {"body": body(harness, sessionId="a/b")}, "sessionId"),
    ]
    for name, request, field in cases:
        with subtests.test(name):
            answer = call_api(harness, "POST", sessions_path(harness), **request)
            assert answer.status == 400, answer
            assert answer.body["field"] == field
            assert answer.body["message"].startswith(f"{field}:")
    # Nothing reached the workflow.
    assert started_executions(harness) == []


def test_a_retry_with_the_same_session_id_starts_one_session(harness: Harness) -> None:
    request = body(harness, sessionId="alice-debug-1")
    first = start(harness, body=request)
    again = start(harness, body=request)
    assert first.body["executionArn"] == again.body["executionArn"]
    # Another body under the same id is a conflict
    changed = call_api(
        harness, "POST", sessions_path(harness), body={**request, "durationMinutes": 60}
    )
    assert (changed.status, changed.body["field"]) == (409, "sessionId")
    assert len(started_executions(harness)) == 1
    harness.wait_until_holding(first.body["executionArn"], "alice-debug-1")
    end_and_finish(harness, "alice-debug-1", first.body["executionArn"])


# ----------------------------------------------------------------------- GET /sessions/{id}


def test_get_shows_the_steps_and_the_address_once_ready_and_not_before(harness: Harness) -> None:
    # GIVEN a session whose first task cannot run yet
    with invocations_paused():
        answer = start(harness, body=body(harness))
        session_id = answer.body["sessionId"]
        # WHEN alice asks how it is going
        starting = call_api(harness, "GET", session_path(harness, session_id))
    # THEN it is starting, and there is nowhere to connect to yet
    assert starting.status == 200
    assert starting.body["status"] == "RUNNING"
    assert starting.body["phase"] == "starting"
    assert starting.body["address"] is None and starting.body["sshCommand"] is None
    assert starting.body["clusterEndpoint"] is None
    assert [step["name"] for step in starting.body["steps"]] in ([], ["ValidateRequest"])

    # WHEN it holds
    ready_document = harness.wait_until_holding(answer.body["executionArn"], session_id)
    ready = call_api(harness, "GET", session_path(harness, session_id))

    # THEN the address, the ssh command and the expiry are there, with the steps so far
    assert ready.status == 200
    assert ready.body["phase"] == "ready"
    expected = ready_document["ready"]
    assert ready.body["address"] == expected["address"]
    assert (
        ready.body["sshCommand"] == expected["sshCommand"] == f"ssh bastion@{expected['address']}"
    )
    assert ready.body["expiresAt"] == expected["expiresAt"]
    assert (ready.body["requestedBy"], ready.body["cluster"]) == (ALICE, "payments")
    steps = [step["name"] for step in ready.body["steps"]]
    assert steps[0] == "ValidateRequest"
    assert steps[-2:] == ["BastionReady", "HoldSession"]
    assert all(step["enteredAt"].endswith("Z") for step in ready.body["steps"])
    assert ready.body["steps"][-1]["exitedAt"] is None
    # ... where the bastion logs, and what a kubeconfig needs: the API's caller needs no
    # other permission
    task_id = ready.body["taskArn"].rsplit("/", 1)[-1]
    assert ready.body["logGroup"] == harness.stack.outputs["BastionLogGroupName"]
    assert ready.body["logStream"] == f"bastion/bastion/{task_id}"
    cluster = harness.aws.client("eks").describe_cluster(name="payments")["cluster"]
    assert ready.body["clusterEndpoint"] == cluster["endpoint"]
    assert ready.body["clusterCertificateAuthority"] == cluster["certificateAuthority"]["data"]

    # WHEN it has ended, THEN it says why, and offers no address any more
    end_and_finish(harness, session_id, answer.body["executionArn"])
    ended = call_api(harness, "GET", session_path(harness, session_id))
    assert ended.body["status"] == "SUCCEEDED"
    assert (ended.body["phase"], ended.body["endReason"]) == ("ended", "ended-by-user")
    assert ended.body["address"] is None
    assert "SessionEnded" in [step["name"] for step in ended.body["steps"]]


def test_a_session_that_failed_says_why(harness: Harness) -> None:
    # GIVEN a cluster that exists when the request is checked, but loses its private
    # endpoint before the workflow looks at it
    with invocations_paused():
        answer = start(harness, body=body(harness))
        harness.aws.client("eks").update_cluster_config(
            name="payments",
            resourcesVpcConfig={"endpointPrivateAccess": False, "endpointPublicAccess": True},
        )
    final = harness.finish(answer.body["executionArn"])
    assert final["status"] == "FAILED"
    failed = call_api(harness, "GET", session_path(harness, answer.body["sessionId"]))
    assert (failed.body["phase"], failed.body["endReason"]) == ("failed", "failed")
    assert failed.body["error"]["error"] == "InvalidRequest"
    assert failed.body["error"]["message"].startswith("cluster:")
    assert "private endpoint" in failed.body["error"]["message"]


def test_an_unknown_session_is_404(harness: Harness) -> None:
    for method in ("GET", "DELETE"):
        answer = call_api(harness, method, session_path(harness, "no-such-session"))
        assert answer.status == 404
        assert answer.body == {
            "message": "no session 'no-such-session' on cluster 'payments'",
            "field": None,
        }


# ----------------------------------------------------------------------- DELETE /sessions/{id}


def test_delete_by_another_user_is_forbidden_and_the_session_keeps_running(
    harness: Harness,
) -> None:
    answer = start(harness, body=body(harness))
    session_id, arn = answer.body["sessionId"], answer.body["executionArn"]
    harness.wait_until_holding(arn, session_id)

    # WHEN bob tries to end (or look at, or list what it owns) alice's session
    refused = call_api(harness, "DELETE", session_path(harness, session_id), caller=BOB)
    looked = call_api(harness, "GET", session_path(harness, session_id), caller=BOB)
    owned = call_api(harness, "GET", f"{session_path(harness, session_id)}/resources", caller=BOB)

    # THEN he may not, and it still holds with everything it owns
    assert refused.status == looked.status == owned.status == 403
    assert refused.body["field"] is None
    assert harness.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"
    inventory = harness.aws.inventory(session_id)
    assert inventory.running_tasks and inventory.hold_parameters
    assert not any(
        invocation.event == {"sessionId": session_id, "reason": "ended-by-user"}
        for invocation in harness.aws.invocations
    )
    end_and_finish(harness, session_id, arn)


def owned_ids(harness: Harness, session_id: str) -> tuple[str, list[list[str]]]:
    """The session's status and what GET .../resources says it owns, by kind."""
    owned = call_api(harness, "GET", f"{session_path(harness, session_id)}/resources")
    assert owned.status == 200, owned
    kinds = {
        "securityGroups": "groupId",
        "controlPlaneRules": "ruleId",
        "bastionTasks": "taskArn",
        "holdParameters": "name",
    }
    return owned.body["status"], [
        sorted(item[key] for item in owned.body[kind]) for kind, key in kinds.items()
    ]


def test_delete_by_the_requester_ends_the_session_and_leaves_nothing(harness: Harness) -> None:
    rules_before = harness.control_plane_rules()
    answer = start(harness, body=body(harness))
    session_id, arn = answer.body["sessionId"], answer.body["executionArn"]
    harness.wait_until_holding(arn, session_id)
    # A holding session owns its group, its rule on the control plane, its task and its
    # hold parameter: what the local AWS's own inventory of the session finds
    status, owned = owned_ids(harness, session_id)
    inventory = harness.aws.inventory(session_id)
    found = (
        inventory.security_groups,
        inventory.control_plane_rules,
        inventory.running_tasks,
        inventory.hold_parameters,
    )
    assert status == "RUNNING" and [len(ids) for ids in owned] == [1, 1, 1, 1], owned
    assert owned == [sorted(r.resource_id for r in kind) for kind in found]

    ended = call_api(harness, "DELETE", session_path(harness, session_id))

    assert ended.status == 202
    assert ended.body["phase"] == "ending"
    # 480 minutes hold 8 minutes at 60x: ending within the timeout proves it ended early
    final = harness.finish(arn)
    assert final["status"] == "SUCCEEDED"
    assert json.loads(final["output"])["end"]["reason"] == "ended-by-user"
    inventory = harness.aws.inventory(session_id)
    assert inventory.is_empty, inventory.render()
    assert owned_ids(harness, session_id) == ("SUCCEEDED", [[], [], [], []])
    assert harness.control_plane_rules() == rules_before
    # A second DELETE: it has ended already
    again = call_api(harness, "DELETE", session_path(harness, session_id))
    assert again.status == 409
    assert "already ended (SUCCEEDED)" in again.body["message"]


def test_delete_while_starting_stops_the_execution(harness: Harness) -> None:
    with invocations_paused():
        answer = start(harness, body=body(harness))
        session_id, arn = answer.body["sessionId"], answer.body["executionArn"]
        # (moto cannot stop an execution whose worker thread has not begun: let it begin)
        wait_until_entered(harness, arn, "ValidateRequest")
        # Nothing holds the session yet: EndSession says so, and the API stops it instead.
        stopped = call_api(harness, "DELETE", session_path(harness, session_id))
    assert stopped.status == 202
    assert "stopped" in stopped.body["message"]
    assert harness.finish(arn)["status"] == "ABORTED"
    view = call_api(harness, "GET", session_path(harness, session_id))
    assert (view.body["status"], view.body["phase"]) == ("ABORTED", "ended")
    # AND the stack's teardown rule removes whatever the stopped setup had created
    settle(harness)
    inventory = harness.aws.inventory(session_id)
    assert inventory.is_empty, inventory.render()


# ----------------------------------------------------------------------- GET /sessions


def test_an_admin_sees_everyones_sessions_and_a_user_only_their_own(harness: Harness) -> None:
    # (one after the other: the local AWS's in-process Lambdas share one os.environ, and
    # two sessions setting up at once can race on it)
    alices = start(harness, body=body(harness))
    harness.wait_until_holding(alices.body["executionArn"], alices.body["sessionId"])
    bobs = start(harness, caller=BOB, body=body(harness))
    harness.wait_until_holding(bobs.body["executionArn"], bobs.body["sessionId"])

    def listed(caller: str) -> set[str]:
        answer = call_api(harness, "GET", "/sessions", caller=caller)
        assert answer.status == 200, answer
        return {session["sessionId"] for session in answer.body["sessions"]}

    # THEN each user sees their own session, an admin (a session of the admin role) both
    assert listed(ALICE) == {alices.body["sessionId"]}
    assert listed(BOB) == {bobs.body["sessionId"]}
    assert listed(CAROL_AS_ADMIN) == {alices.body["sessionId"], bobs.body["sessionId"]}
    # AND the same role name in another account is nobody special
    assert listed(FOREIGN_ADMIN) == set()
    # AND the admin may look at and end someone else's session
    path = session_path(harness, bobs.body["sessionId"])
    assert call_api(harness, "GET", path, caller=CAROL_AS_ADMIN).body["requestedBy"] == BOB
    end_and_finish(harness, bobs.body["sessionId"], bobs.body["executionArn"], CAROL_AS_ADMIN)
    end_and_finish(harness, alices.body["sessionId"], alices.body["executionArn"])


# ----------------------------------------------------------------------- the local deployer


def test_the_local_deployer_refuses_an_authorizer_it_cannot_reproduce(tmp_path: Path) -> None:
    # GIVEN a REST API whose method uses a Cognito authorizer, which the local AWS lacks
    from bastion.local import LocalAws
    from bastion.local.deploy import DeployError

    body = {
        "openapi": "3.0.1",
        "info": {"title": "api", "version": "1"},
        "paths": {"/x": {"get": {"security": [{"Pool": []}]}}},
        "components": {
            "securitySchemes": {
                "Pool": {
                    "type": "apiKey",
                    "name": "Authorization",
                    "in": "header",
                    "x-amazon-apigateway-authtype": "cognito_user_pools",
                }
            }
        },
    }
    template = tmp_path / "template.json"
    template.write_text(
        json.dumps(
            {
                "Resources": {
                    "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Body": body}}
                }
            }
        ),
        encoding="utf-8",
    )
    # THEN deploying it fails, naming the scheme, instead of creating an open method
    with LocalAws(region="us-east-1") as aws, pytest.raises(DeployError, match="'Pool'"):
        aws.deploy(template)


# ----------------------------------------------------------------------- who may open which door

PLATFORM_ENGINEER = f"arn:aws:iam::{ACCOUNT}:role/platform-engineer"
POWER_USER = f"arn:aws:iam::{ACCOUNT}:role/PowerUser"
#: What AWS's PowerUserAccess grants on API Gateway: every route of every API.
EVERYTHING = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
ORG = "o-a1b2c3d4e5"
PARTNER = "arn:aws:iam::210987654321:role/platform-engineer"


def deployed_door(harness: Harness, stack: Any) -> tuple[Any, Any]:
    """The stack's resource policy as API Gateway keeps it, and its route ARN builder."""
    from tests.workflow.execute_api_policy import Policy, route_arn

    api_id = stack.resources["BastionApi"]
    kept = harness.aws.client("apigateway").get_rest_api(restApiId=api_id)["policy"]
    prefix = f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api_id}/"
    resource_policy = Policy.parse(kept.replace('\\"', '"'), api_prefix=prefix)

    def route(method: str, path: str) -> str:
        return route_arn("us-east-1", ACCOUNT, api_id, "v1", method, path)

    return resource_policy, route


def test_the_documented_policy_grants_one_cluster_and_refuses_the_other(
    harness: Harness,
) -> None:
    from tests.workflow.execute_api_policy import (
        Policy,
        Principal,
        documented_policy,
        invoke_allowed,
    )

    # GIVEN the stack (ApiAllowedPrincipals=*: IAM decides) and the per-cluster policy that
    # docs/deployment.md gives a platform engineer, for this API
    resource_policy, route = deployed_door(harness, harness.stack)
    api_id = harness.stack.resources["BastionApi"]
    identity = Policy.parse(
        json.dumps(documented_policy("One cluster per policy"))
        .replace("REGION", "us-east-1")
        .replace("ACCOUNT_ID", ACCOUNT)
        .replace("API_ID", api_id)
    )
    engineer = Principal(PLATFORM_ENGINEER)

    def allowed(method: str, path: str) -> bool:
        return invoke_allowed(engineer, identity, resource_policy, ACCOUNT, route(method, path))

    # THEN every route of payments is granted, and of ledger none
    for method, path in (
        ("POST", "/clusters/payments/sessions"),
        ("GET", "/clusters/payments/sessions"),
        ("GET", "/clusters/payments/sessions/alice-1"),
        ("DELETE", "/clusters/payments/sessions/alice-1"),
        ("GET", "/sessions"),
    ):
        assert allowed(method, path), (method, path)
    for method, path in (
        ("POST", "/clusters/ledger/sessions"),
        ("GET", "/clusters/ledger/sessions/alice-1"),
        ("DELETE", "/clusters/ledger/sessions/alice-1"),
        # a cluster whose name starts with the granted one's is another cluster
        ("POST", "/clusters/payments-prod/sessions"),
    ):
        assert not allowed(method, path), (method, path)
    # AND without an identity policy, or from another account, nothing is allowed
    nobody = Policy.parse({"Statement": []})
    post = route("POST", "/clusters/payments/sessions")
    assert not invoke_allowed(engineer, nobody, resource_policy, ACCOUNT, post)
    partner = Principal(PARTNER, org_id=ORG)
    assert not invoke_allowed(partner, Policy.parse(EVERYTHING), resource_policy, ACCOUNT, post)

    # AND the function itself does not show or end a ledger session under payments' route
    payments_session = start(harness, body=body(harness))
    session_id = payments_session.body["sessionId"]
    for method in ("GET", "DELETE"):
        elsewhere = call_api(harness, method, f"/clusters/ledger/sessions/{session_id}")
        assert elsewhere.status == 404, elsewhere
    harness.wait_until_holding(payments_session.body["executionArn"], session_id)
    end_and_finish(harness, session_id, payments_session.body["executionArn"])


def test_named_principals_shut_out_broad_grants_and_the_organization_opens_to_its_accounts(
    harness: Harness,
) -> None:
    from bastion.local.deploy import deploy_stack
    from tests.workflow.execute_api_policy import Policy, Principal, invoke_allowed

    # GIVEN a stack that names its callers (platform-* roles) and admits its organization
    named = deploy_stack(
        TEMPLATE,
        {
            "BastionSubnetIds": ",".join(harness.cluster.public_subnet_ids),
            "BastionImageUri": TEST_IMAGE,
            "AllowedClusters": "payments",
            "ApiAllowedPrincipals": f"arn:aws:iam::{ACCOUNT}:role/platform-*,{PARTNER}",
            "ApiAllowedOrganizationId": ORG,
        },
        region="us-east-1",
        stack_name="named-door",
    )
    resource_policy, route = deployed_door(harness, named)
    post = route("POST", "/clusters/payments/sessions")
    everything = Policy.parse(EVERYTHING)
    # THEN a PowerUser of this account is refused, whatever its identity policy grants
    assert not invoke_allowed(Principal(POWER_USER), everything, resource_policy, ACCOUNT, post)
    # ... a named role is let in as far as its identity policy goes
    engineer = Principal(PLATFORM_ENGINEER, org_id=ORG)
    assert invoke_allowed(engineer, everything, resource_policy, ACCOUNT, post)
    assert not invoke_allowed(
        engineer, Policy.parse({"Statement": []}), resource_policy, ACCOUNT, post
    )
    # ... a named role of another account of the organization too (its policy allowing)
    partner = Principal(PARTNER, org_id=ORG)
    assert invoke_allowed(partner, everything, resource_policy, ACCOUNT, post)
    # ... but not one outside the organization, nor an unnamed one inside it
    outsider = Principal(PARTNER, org_id="o-zzzzzzzzzz")
    assert not invoke_allowed(outsider, everything, resource_policy, ACCOUNT, post)
    stranger = Principal("arn:aws:iam::210987654321:role/Admin", org_id=ORG)
    assert not invoke_allowed(stranger, everything, resource_policy, ACCOUNT, post)


# ----------------------------------------------------------------------- caps


@pytest.fixture
def capped() -> Iterator[Harness]:
    """A stack at two running sessions per caller and three per cluster."""
    with deployed(parameters={"MaxSessionsPerCaller": "2", "MaxSessionsPerCluster": "3"}) as fresh:
        yield fresh
        for arn in running_executions(fresh.sfn):
            fresh.sfn.stop_execution(executionArn=arn)
        settle(fresh)


def fire_at_once(count: int, start_one: Any) -> list[Any]:
    """Run ``start_one(index)`` on ``count`` threads released together."""
    barrier = threading.Barrier(count)

    def go(index: int) -> Any:
        barrier.wait(timeout=WAIT_SECONDS)
        return start_one(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(go, range(count)))


def outcome_of(harness: Harness, arn: str, timeout: float = WAIT_SECONDS) -> str:
    """``holding`` once the session holds, else the execution's error once it has failed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "HoldSession" in harness.states_entered(arn):
            return "holding"
        described = harness.sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            return str(described.get("error"))
        time.sleep(0.05)
    raise AssertionError(f"{arn} neither held nor failed in {timeout} s")


def test_a_burst_of_starts_lets_exactly_the_first_n_of_a_caller_through(capped: Harness) -> None:
    # GIVEN six executions of alice's session started at the same moment with
    # `aws stepfunctions start-execution` (no API in front)
    started = fire_at_once(6, lambda index: capped.start(session_id=f"burst-{index}"))
    arns = dict(started)
    # WHEN each has held or failed
    outcomes = {session_id: outcome_of(capped, arn) for session_id, arn in started}
    # THEN exactly two hold: the first two by start time (then name)
    holding = {session_id for session_id, outcome in outcomes.items() if outcome == "holding"}
    assert len(holding) == 2, outcomes
    listed = capped.sfn.list_executions(
        stateMachineArn=capped.stack.state_machine_arn("SessionStateMachine")
    )["executions"]
    first_two = sorted(listed, key=lambda e: (e["startDate"], e["name"]))[:2]
    assert holding == {e["name"] for e in first_two}
    # AND the other four are refused naming the cap, before anything was created
    for session_id in set(outcomes) - holding:
        described = capped.sfn.describe_execution(executionArn=arns[session_id])
        assert described["error"] == "SessionLimitReached", described
        assert "MaxSessionsPerCaller" in described["cause"]
        assert "CreateSessionSecurityGroup" not in capped.states_entered(arns[session_id])
        assert capped.aws.inventory(session_id).is_empty
    for session_id in holding:
        end_and_finish(capped, session_id, arns[session_id], caller=ALICE)


def test_a_burst_through_the_api_answers_429_or_is_refused_and_two_hold(capped: Harness) -> None:
    # GIVEN six POSTs of bob's at the same moment
    answers = fire_at_once(
        6, lambda _: call_api(capped, "POST", sessions_path(capped), caller=BOB, body=body(capped))
    )
    # THEN each is started or answered 429 naming the cap
    assert {answer.status for answer in answers} <= {201, 429}, answers
    for answer in answers:
        if answer.status == 429:
            assert answer.body["limit"] == "MaxSessionsPerCaller"
    started = [answer.body for answer in answers if answer.status == 201]
    outcomes = {s["sessionId"]: outcome_of(capped, s["executionArn"]) for s in started}
    # AND of those started, exactly two hold; the workflow refuses the rest by name
    holding = [session_id for session_id, outcome in outcomes.items() if outcome == "holding"]
    assert len(holding) == 2, outcomes
    assert set(outcomes.values()) <= {"holding", "SessionLimitReached"}, outcomes
    listed = call_api(capped, "GET", "/sessions", caller=BOB).body["sessions"]
    assert sorted(s["sessionId"] for s in listed if s["sessionId"] in holding) == sorted(holding)
    for s in started:
        if s["sessionId"] in holding:
            end_and_finish(capped, s["sessionId"], s["executionArn"], caller=BOB)


def test_many_callers_cannot_take_the_clusters_rule_quota(capped: Harness) -> None:
    rules_before = len(capped.control_plane_rules())
    callers = [f"arn:aws:iam::{ACCOUNT}:user/{name}" for name in ("ann", "ben", "cat", "dan")]
    held = []
    # GIVEN three callers' sessions holding on payments (its cap)
    for caller in callers[:3]:
        answer = start(capped, caller=caller, body=body(capped))
        capped.wait_until_holding(answer.body["executionArn"], answer.body["sessionId"])
        held.append((caller, answer.body))
    # WHEN a fourth caller asks, THEN it is refused naming the cluster's cap
    refused = call_api(capped, "POST", sessions_path(capped), caller=callers[3], body=body(capped))
    assert refused.status == 429, refused
    assert refused.body["limit"] == "MaxSessionsPerCluster"
    assert "'payments' already has 3" in refused.body["message"]
    # AND the cluster's group holds at most three session rules
    assert len(capped.control_plane_rules()) <= rules_before + 3
    for caller, started in held:
        end_and_finish(capped, started["sessionId"], started["executionArn"], caller=caller)

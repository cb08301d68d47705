"""Drive sessions on the local AWS: start, wait for the hold, end early, inspect."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bastion.local.api_gateway import proxy_event
from bastion.local.executions import wait_for_execution
from bastion.local.keys import throwaway_public_key
from bastion.local.waits import WAIT_SECONDS
from tasks.api_view import history, steps_of
from tasks.common import session_states
from tasks.common.bastion_started import bastion_log_stream
from tasks.common.models import format_timestamp
from tasks.common.settings import session_parameter_prefix
from tasks.common.tags import SESSION_TAG, STACK_TAG

#: How often a wait asks again (each ask is a call the local AWS answers in this process).
_POLL_SECONDS = 0.05
TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
TEST_IMAGE = "public.ecr.aws/fargate-bastion/bastion:test"
REQUESTER = "arn:aws:iam::123456789012:user/alice"
_TEARDOWN_THEN_FAILURE = [
    "StopBastionTask",
    "RevokeControlPlaneIngress",
    "DeleteSessionSecurityGroup",
    "DeleteHoldParameter",
    "IsTeardownComplete",
    "DidSessionFail",
    "ReadSessionFailedCause",
]
#: The last states of a session that failed in a function: the whole teardown chain, then
#: the failure, its cause reduced to the function's message.
FAILED_AFTER_TEARDOWN = [
    *_TEARDOWN_THEN_FAILURE,
    "ParseSessionFailedError",
    "KeepSessionFailedMessage",
    "NameSessionFailedError",
    "SessionFailed",
]
#: The same for a failure whose cause is plain text (a wait failed by SendTaskFailure, or
#: given up), kept as it is.
FAILED_WITH_ITS_CAUSE_AFTER_TEARDOWN = [
    *_TEARDOWN_THEN_FAILURE,
    "KeepSessionFailedCause",
    "NameSessionFailedError",
    "SessionFailed",
]


def ed25519_public_key() -> str:
    return throwaway_public_key("alice@laptop")


@dataclass
class Harness:
    """One deployed stack and one seeded cluster on a LocalAws."""

    aws: Any
    stack: Any
    cluster: Any
    counter: int = 0
    started: list[str] = field(default_factory=list)

    @property
    def sfn(self) -> Any:
        return self.aws.client("stepfunctions")

    @property
    def ec2(self) -> Any:
        return self.aws.client("ec2")

    def request(self, **overrides: Any) -> dict[str, Any]:
        """A valid request for the seeded cluster, with ``overrides`` applied."""
        request: dict[str, Any] = {
            "cluster": self.cluster.name,
            "sshPublicKey": ed25519_public_key(),
            "allowedCidrs": ["203.0.113.7/32"],
            "durationMinutes": 60,
            "requestedBy": REQUESTER,
        }
        request.update(overrides)
        return request

    def start(self, request: Any = None, session_id: str | None = None) -> tuple[str, str]:
        """Start a session; returns (session id, execution ARN)."""
        if session_id is None:
            self.counter += 1
            session_id = f"test-session-{self.counter}"
        arn = self.sfn.start_execution(
            stateMachineArn=self.stack.state_machine_arn("SessionStateMachine"),
            name=session_id,
            input=json.dumps(self.request() if request is None else request),
        )["executionArn"]
        self.started.append(arn)
        return session_id, arn

    def wait_until_holding(
        self, arn: str, session_id: str, timeout: float = WAIT_SECONDS
    ) -> dict[str, Any]:
        """Wait until the session holds (its hold step stored the token); returns the ready
        document. Fails as soon as the execution ends without having held."""
        ssm = self.aws.client("ssm")
        deadline = time.monotonic() + timeout
        while not ssm.get_parameters(Names=[self.parameter_name(session_id)])["Parameters"]:
            description = self.sfn.describe_execution(executionArn=arn)
            assert description["status"] == "RUNNING", (
                f"session {session_id} ended without holding: {description['status']} "
                f"{description.get('error')}: {description.get('cause')}"
            )
            assert time.monotonic() < deadline, f"session {session_id} never stored its token"
            time.sleep(_POLL_SECONDS)
        return self.ready_document(arn)

    def parameter_name(self, session_id: str) -> str:
        """The session's hold parameter, under this stack's prefix."""
        return f"{session_parameter_prefix(self.stack.stack_name)}/{session_id}"

    def ready_document(self, arn: str) -> dict[str, Any]:
        """The execution's whole data as BastionReady left it (the session, its resources
        and ``ready``): what the tests assert on. The API's view of a session is
        :func:`tasks.api_view.view_session`, which ``call_api`` reaches."""
        for event in history(self.sfn, arn):
            details = event.get("stateExitedEventDetails", {})
            if details.get("name") == session_states.BASTION_READY:
                return json.loads(details["output"])
        raise AssertionError(f"{session_states.BASTION_READY} never exited")

    def end_session(self, session_id: str, reason: str) -> dict[str, Any]:
        """Invoke EndSession the way the API and the task-stopped event will."""
        answer = self.aws.client("lambda").invoke(
            FunctionName=self.stack.function_name("EndSessionFunction"),
            Payload=json.dumps({"sessionId": session_id, "reason": reason}),
        )
        payload = json.loads(answer["Payload"].read())
        return {"functionError": answer.get("FunctionError"), "payload": payload}

    def finish(self, arn: str, timeout: float = WAIT_SECONDS) -> dict[str, Any]:
        """Wait for the execution to end; returns describe_execution."""
        return wait_for_execution(self.sfn, arn, timeout=timeout)

    def states_entered(self, arn: str) -> list[str]:
        return [step.name for step in steps_of(history(self.sfn, arn))]

    def bastion_log_lines(self, task: dict[str, Any]) -> list[str]:
        """What the task's bastion wrote to its log stream, oldest first."""
        stream = bastion_log_stream("bastion", str(task["taskArn"]).rsplit("/", 1)[-1])
        events = self.aws.client("logs").get_log_events(
            logGroupName=self.stack.resources["BastionLogGroup"],
            logStreamName=stream,
            startFromHead=True,
        )["events"]
        return [str(event["message"]) for event in events]

    def control_plane_rules(self) -> list[str]:
        group = self.ec2.describe_security_groups(
            GroupIds=[self.cluster.cluster_security_group_id]
        )["SecurityGroups"][0]
        return sorted(json.dumps(rule, sort_keys=True) for rule in group["IpPermissions"])

    def session_tasks(self, session_id: str) -> list[dict[str, Any]]:
        """Every ECS task (any status) tagged with the session."""
        ecs = self.aws.client("ecs")
        cluster = self.stack.resources["BastionCluster"]
        arns: list[str] = []
        for status in ("RUNNING", "STOPPED"):
            arns += ecs.list_tasks(cluster=cluster, desiredStatus=status)["taskArns"]
        if not arns:
            return []
        tasks = ecs.describe_tasks(cluster=cluster, tasks=arns, include=["TAGS"])["tasks"]
        return [
            task
            for task in tasks
            if {"key": SESSION_TAG, "value": session_id} in task.get("tags", [])
            and {"key": STACK_TAG, "value": self.stack.stack_name} in task.get("tags", [])
        ]


#: Who may open which door, for the tests: the seeded cluster, the account's IAM, and caps
#: high enough that no scenario meets one unless it sets them (tests of the caps do).
#: ``public-only`` is allowed as an operator might by mistake: a session on it must still be
#: refused, for its API endpoint is not private.
TEST_DOOR_PARAMETERS = {
    "AllowedClusters": "payments,public-only",
    "ApiAllowedPrincipals": "*",
    "MaxSessionsPerCaller": "50",
    "MaxSessionsPerCluster": "55",
    "MaxSessionsPerStack": "1000",
}


def deploy_for_tests(
    aws: Any,
    *,
    parameters: dict[str, str] | None = None,
    stack_name: str | None = None,
    cluster: Any = None,
) -> Harness:
    """Seed the ``payments`` cluster on ``aws`` (unless ``cluster`` is given) and deploy the
    stack for it (with ``parameters`` beside the subnets and image), named ``stack_name``
    (the deployer's default when None)."""
    if cluster is None:
        cluster = aws.seed_cluster("payments", endpoint_private=True, endpoint_public=False)
    stack = aws.deploy(
        TEMPLATE,
        parameters={
            "BastionSubnetIds": ",".join(cluster.public_subnet_ids),
            "BastionImageUri": TEST_IMAGE,
            **TEST_DOOR_PARAMETERS,
            **(parameters or {}),
        },
        stack_name=stack_name,
    )
    return Harness(aws=aws, stack=stack, cluster=cluster)


@dataclass(frozen=True)
class _Deployment:
    """What :func:`deploy_for_tests` made once, kept to start local AWSes from."""

    snapshot: Any
    stack: Any
    cluster: Any


#: Deployments made in this process, by their parameters.
_deployments: dict[tuple[tuple[str, str], ...], _Deployment] = {}


@contextmanager
def deployed(parameters: dict[str, str] | None = None) -> Iterator[Harness]:
    """A new local AWS (60x) holding exactly what :func:`deploy_for_tests` makes with
    ``parameters``, and nothing else: no execution, fault, invocation or event.

    The stack is deployed once per process and parameters; each local AWS after that
    starts from a copy of what that deployment made (the same names and IDs), which costs
    milliseconds where deploying costs about a second of CPU.
    """
    from bastion.local import LocalAws

    key = tuple(sorted((parameters or {}).items()))
    if key not in _deployments:
        with LocalAws(region="us-east-1", time_scale=60.0) as aws:
            made = deploy_for_tests(aws, parameters=parameters)
            _deployments[key] = _Deployment(aws.snapshot(), made.stack, made.cluster)
    deployment = _deployments[key]
    # At 60x a session of N minutes holds for N seconds, and retry waits shrink alike.
    with LocalAws(region="us-east-1", time_scale=60.0) as aws:
        aws.restore(deployment.snapshot)
        yield Harness(aws=aws, stack=deployment.stack, cluster=deployment.cluster)


# ----------------------------------------------------------------------- the session API

API_SAMPLE_EVENT = Path(__file__).resolve().parents[1] / "events" / "api_post_sessions.json"


def api_event(
    method: str,
    path: str,
    *,
    caller: str = REQUESTER,
    source_ip: str = "203.0.113.7",
    body: Any = None,
    raw_body: str | None = None,
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A REST proxy event as API Gateway sends it to the API function once it has verified
    the request's SigV4 signature (see :func:`bastion.local.api_gateway.proxy_event`).

    ``body`` is sent as JSON; ``raw_body`` as it is (for bodies that are not JSON).
    """
    if raw_body is None and body is not None:
        raw_body = json.dumps(body)
    return proxy_event(
        method,
        path,
        caller=caller,
        source_ip=source_ip,
        body=raw_body,
        query={name: [value] for name, value in query.items()} if query else None,
    )


@dataclass(frozen=True)
class ApiAnswer:
    """What the API function answered: the status, the JSON body and the headers."""

    status: int
    body: Any
    headers: dict[str, Any]


def call_api(harness: Harness, method: str, path: str, **request: Any) -> ApiAnswer:
    """Invoke the deployed API function with a signed request's event (see :func:`api_event`)."""
    answer = harness.aws.client("lambda").invoke(
        FunctionName=harness.stack.function_name("ApiFunction"),
        Payload=json.dumps(api_event(method, path, **request)),
    )
    payload = json.loads(answer["Payload"].read())
    assert answer.get("FunctionError") is None, payload
    headers = {k: v[0] for k, v in (payload.get("multiValueHeaders") or {}).items()}
    headers.update(payload.get("headers") or {})
    return ApiAnswer(payload["statusCode"], json.loads(payload["body"]), headers)


def ghost_session(harness: Harness, session_id: str, *, stray_ingress: bool = False) -> None:
    """What a crash leaves when a session's resources exist but its execution never did:
    made by the stack's own task functions, tagged as they tag. With ``stray_ingress``, an
    inbound rule the session did not ask for is added to its group, and a re-run of
    CreateSessionSecurityGroup (as a retry would) converges the group by revoking it."""
    now = datetime.now(UTC)
    session = {
        "sessionId": session_id,
        "cluster": harness.cluster.name,
        "sshPublicKey": ed25519_public_key(),
        "allowedCidrs": ["203.0.113.7/32"],
        "durationMinutes": 60,
        "requestedBy": REQUESTER,
        "startedAt": format_timestamp(now),
        "expiresAt": format_timestamp(now + timedelta(hours=1)),
    }
    lambda_client = harness.aws.client("lambda")

    def invoke(task: str, payload: dict[str, Any]) -> dict[str, Any]:
        answer = lambda_client.invoke(
            FunctionName=harness.stack.function_name(f"{task}Function"),
            Payload=json.dumps(payload),
        )
        assert "FunctionError" not in answer, answer["Payload"].read()
        result: dict[str, Any] = json.loads(answer["Payload"].read())
        return result

    control_plane = {
        "vpcId": harness.cluster.vpc_id,
        "controlPlaneSecurityGroupId": harness.cluster.cluster_security_group_id,
        "endpointHost": f"{harness.cluster.name}.eks.example",
    }
    step = {"sessionId": session_id, "session": session, "controlPlane": control_plane}
    group = invoke("CreateSessionSecurityGroup", step)
    if stray_ingress:
        stray = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22}
        stray["IpRanges"] = [{"CidrIp": "0.0.0.0/0"}]
        harness.ec2.authorize_security_group_ingress(
            GroupId=group["groupId"], IpPermissions=[stray]
        )
        assert invoke("CreateSessionSecurityGroup", step)["groupId"] == group["groupId"]
        rules = harness.ec2.describe_security_group_rules(
            Filters=[{"Name": "group-id", "Values": [group["groupId"]]}]
        )["SecurityGroupRules"]
        assert not [
            rule for rule in rules if rule.get("CidrIpv4") == "0.0.0.0/0" and not rule["IsEgress"]
        ]
    invoke("RunBastionTask", {**step, "sessionSecurityGroup": group})

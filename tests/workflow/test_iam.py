"""Least privilege, proven on the deployed stack: granted ⊇ used, and nothing broad.

Method. One local AWS runs representative scenarios on the stack deployed from
template.yaml: a session that expires, one extended through the API and then ended early
by EndSession, a private one ended early, one that fails in setup (the first line tears
it down, the rule's teardown runs again), one whose bastion stops by itself (the ECS
event ends it), one stopped from the console (the rule starts the teardown machine), a
sweep that removes a crashed session, and the session API listing what a holding session
owns. The local AWS records
every AWS action each principal performed (:mod:`bastion.local.actions`): each Lambda
function as its execution role, each state machine as its role (``lambda:InvokeFunction``
on the function), each EventBridge rule target as its role (``states:StartExecution``),
and EventBridge itself invoking EndSession (checked against the function's resource
policy).

The policies are read back from moto's IAM after the deployment (inline and attached,
AWS-managed ones loaded), and evaluated as IAM does for one principal: an explicit Deny
wins, else some Allow must match the action and every resource (``*`` and ``?`` wildcards
in both) and its conditions must hold. An action whose resources the request does not
reveal is checked on its action alone.

Which conditions are evaluated. Resource-tag conditions (``aws:ResourceTag/<key>``,
``ec2:ResourceTag/<key>``, ``ecs:ResourceTag/<key>``) under ``StringEquals``,
``StringLike`` and ``Null``, against the tags the security group or ECS task had when the
call was made (the local AWS records them, :mod:`bastion.local.actions`); and
``aws:SourceArn`` on a resource policy. Any other operator on a resource-tag key fails
the test rather than pass unchecked.

What the local evaluator still does not model (treated as satisfied; the template tests
pin these conditions' text instead): request tags (``aws:RequestTag/...``, so "a new
group must carry the stack tag" is not proven here), ``ec2:CreateAction``,
``ecs:CreateAction``, ``ecs:cluster``, ``iam:PassedToService``; tags of resources named
by a wildcard ARN (``security-group/*`` at creation, ``security-group-rule/*``: the
rule resource of Authorize/Revoke); SSM parameter tags; permission boundaries, SCPs and
session policies.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import pytest

from bastion.local import LocalAws
from bastion.local.actions import RecordedAction
from tests.workflow.harness import (
    Harness,
    call_api,
    deploy_for_tests,
    ghost_session,
)

pytestmark = pytest.mark.workflow

#: Mutating actions AWS authorizes on "*" only (no resource-level permissions in the
#: Service Authorization Reference): Step Functions' log delivery to CloudWatch Logs, as
#: the Step Functions developer guide's logging policy grants them, and the Session
#: Manager channels of ECS Exec a private bastion's task role opens, as the ECS developer
#: guide's ECS Exec task role policy grants them.
UNSCOPABLE_MUTATIONS = frozenset(
    {
        "logs:CreateLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:PutResourcePolicy",
        "ssmmessages:CreateControlChannel",
        "ssmmessages:CreateDataChannel",
        "ssmmessages:OpenControlChannel",
        "ssmmessages:OpenDataChannel",
    }
)
#: AWS-managed policies the SAM transform attaches by itself: to every function role
#: (CloudWatch Logs for the function, X-Ray for Tracing: Active) and to every traced state
#: machine's role. Their grants are AWS's; they are pinned here by name, not evaluated.
SAM_MANAGED_POLICIES = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
}
READ_ONLY_PREFIXES = ("Describe", "List", "Get")
#: The stack's allowed clusters (the seeded one), and a cluster outside the list.
ALLOWED = "payments"
OUTSIDE = "ledger"


# ---------------------------------------------------------------- the policy evaluator


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def matches(pattern: str, value: str) -> bool:
    """IAM's wildcard match: ``*`` any run of characters, ``?`` one character."""
    return fnmatch.fnmatchcase(value, pattern)


def action_matches(patterns: Any, action: str) -> bool:
    return any(matches(str(p).lower(), action.lower()) for p in as_list(patterns))


@dataclass(frozen=True)
class Statement:
    effect: str
    body: dict[str, Any]
    source: str

    def covers_action(self, action: str) -> bool:
        if "NotAction" in self.body:
            return not action_matches(self.body["NotAction"], action)
        return action_matches(self.body.get("Action", []), action)

    def conditions_hold(self, tags: Mapping[str, str] | None) -> bool:
        """Whether the statement's resource-tag conditions hold for a resource with
        ``tags`` (None: its tags are not known, and such conditions are not evaluated)."""
        for operator, pairs in self.body.get("Condition", {}).items():
            for key, expected in pairs.items():
                tag_key = resource_tag_key(key)
                if tag_key is None or tags is None:
                    continue  # not modelled (see the module's docstring)
                if not tag_condition_holds(operator, tags.get(tag_key), as_list(expected)):
                    return False
        return True

    def covers_resource(self, resource: str | None) -> bool:
        if resource is None:  # not known from the request: the action alone decides
            return True
        if "NotResource" in self.body:
            return not any(matches(p, resource) for p in as_list(self.body["NotResource"]))
        return any(matches(p, resource) for p in as_list(self.body.get("Resource", [])))


RESOURCE_TAG_PREFIXES = ("aws:resourcetag/", "ec2:resourcetag/", "ecs:resourcetag/")


def resource_tag_key(condition_key: str) -> str | None:
    """The tag key a resource-tag condition key reads (None for any other key)."""
    lowered = condition_key.lower()
    for prefix in RESOURCE_TAG_PREFIXES:
        if lowered.startswith(prefix):
            return condition_key[len(prefix) :]
    return None


def tag_condition_holds(operator: str, value: str | None, expected: list[Any]) -> bool:
    """IAM's string operators on one tag's value (None: the resource lacks the tag)."""
    if operator == "StringEquals":
        return value is not None and value in [str(e) for e in expected]
    if operator == "StringLike":
        return value is not None and any(matches(str(e), value) for e in expected)
    if operator == "Null":
        (wanted,) = expected
        return (value is None) == (str(wanted).lower() == "true")
    raise NotImplementedError(f"the evaluator does not model {operator} on a resource tag")


def statements_of(document: Any, source: str) -> list[Statement]:
    if isinstance(document, str):
        document = json.loads(unquote(document))
    return [
        Statement(str(s.get("Effect")), s, source) for s in as_list(document.get("Statement", []))
    ]


def role_statements(iam: Any, role_arn: str) -> list[Statement]:
    """Every statement of the role's policies, as IAM holds them after the deployment."""
    name = role_arn.rsplit("/", 1)[-1]
    found: list[Statement] = []
    for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
        found.extend(statements_of(document, f"{name}/{policy}"))
    for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
        arn = attached["PolicyArn"]
        version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
        document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]
        found.extend(statements_of(document["Document"], arn))
    return found


def allowed(
    statements: list[Statement],
    action: str,
    resources: tuple[str, ...],
    tags: Mapping[str, Mapping[str, str]] | None = None,
) -> bool:
    """Whether ``statements`` allow ``action`` on every one of ``resources``, whose tags
    (by ARN) are ``tags`` where known."""
    for resource in resources or (None,):
        known = None if resource is None else (tags or {}).get(resource)
        relevant = [
            s
            for s in statements
            if s.covers_action(action) and s.covers_resource(resource) and s.conditions_hold(known)
        ]
        if any(s.effect == "Deny" for s in relevant):
            return False
        if not any(s.effect == "Allow" for s in relevant):
            return False
    return True


def resource_policy_allows(lambda_client: Any, recorded: RecordedAction) -> bool:
    """Whether the function's resource policy lets the service principal invoke it for the
    source (the rule) it acts for; ``aws:SourceArn`` conditions are evaluated."""
    (function_arn,) = recorded.resources
    policy = json.loads(lambda_client.get_policy(FunctionName=function_arn)["Policy"])
    for statement in policy["Statement"]:
        principal = statement.get("Principal", {})
        services = as_list(principal.get("Service", [])) if isinstance(principal, dict) else []
        if statement.get("Effect") != "Allow" or recorded.principal.name not in services:
            continue
        if not action_matches(statement.get("Action", []), recorded.action):
            continue
        if not any(matches(p, function_arn) for p in as_list(statement.get("Resource", "*"))):
            continue
        source_patterns = [
            pattern
            for operator in ("ArnLike", "ArnEquals", "StringEquals", "StringLike")
            for key, pattern in statement.get("Condition", {}).get(operator, {}).items()
            if key.lower() == "aws:sourcearn"
        ]
        if all(matches(str(p), str(recorded.principal.source_arn)) for p in source_patterns):
            return True
    return False


# ---------------------------------------------------------------- the scenarios


@dataclass
class Run:
    harness: Harness
    actions: list[RecordedAction]


def run_scenarios(harness: Harness) -> None:
    aws = harness.aws
    # A session that expires (the whole happy path, teardown included).
    expiring_id, expiring = harness.start(harness.request(durationMinutes=1))
    # A session ended early through EndSession (as the API calls it), short of the stack's
    # maximum so that it can be extended first.
    early_id, early = harness.start(harness.request(durationMinutes=420))
    harness.wait_until_holding(early, early_id)
    # The session API lists what the session owns (as the API function's role).
    owned = f"/clusters/{harness.cluster.name}/sessions/{early_id}/resources"
    assert call_api(harness, "GET", owned).body["holdParameters"], owned
    # The session API extends it: RequestExtension signals the hold, ExtendSession answers.
    extensions = f"/clusters/{harness.cluster.name}/sessions/{early_id}/extensions"
    assert call_api(harness, "POST", extensions, body={"byMinutes": 5}).status == 202
    assert harness.end_session(early_id, "ended-by-user")["functionError"] is None
    # A private session (the private task definition and its role, ECS Exec), ended early.
    private_request = harness.request(accessMode="private", requesterId="AIDAEXAMPLE")
    del private_request["allowedCidrs"]
    private_id, private = harness.start(private_request)
    harness.wait_until_holding(private, private_id)
    assert harness.end_session(private_id, "ended-by-user")["functionError"] is None
    # A session whose bastion stops by itself: the ECS event ends it.
    stopping_id, stopping = harness.start(harness.request(durationMinutes=480))
    ready = harness.wait_until_holding(stopping, stopping_id)
    aws.stop_task_by_itself(ready["bastionTask"]["taskArn"])
    # A session stopped from the console: the rule starts the teardown machine.
    aborted_id, aborted = harness.start(harness.request(durationMinutes=480))
    harness.wait_until_holding(aborted, aborted_id)
    harness.sfn.stop_execution(executionArn=aborted)
    for arn in (expiring, early, stopping, aborted):
        harness.finish(arn)
    assert harness.finish(private)["status"] == "SUCCEEDED"
    # A session failing in setup after its task started: teardown, then the rule's.
    aws.faults.fail_invocation("AuthorizeControlPlaneIngressFunction", error_type="InjectedFault")
    failing_id, failing = harness.start()
    assert harness.finish(failing)["status"] == "FAILED"
    for session_id in (aborted_id, failing_id):
        teardown = aws.events.wait_for_delivery(
            lambda d, sid=session_id: (
                d.event["detail"].get("name") == sid
                and d.target_arn.endswith(":stateMachine:fargate-bastion-teardown")
            )
        )
        assert aws.wait_for_execution(str(teardown.result))["status"] == "SUCCEEDED"
    # A crashed session's leftovers, removed by one sweep.
    # (its group met with an inbound rule nobody asked for, which the re-run revokes)
    ghost_session(harness, "ghost-session", stray_ingress=True)
    (sweep,) = aws.fire_schedule("SweeperStateMachineSweepSchedule")
    assert aws.wait_for_execution(str(sweep.result))["status"] == "SUCCEEDED"
    aws.events.wait_until_idle()
    inventory = aws.inventory()
    assert inventory.is_empty, inventory.render()


@pytest.fixture(scope="module")
def run() -> Iterator[Run]:
    # AWS-managed policies loaded, so that the roles' attachments are real.
    with LocalAws(region="us-east-1", time_scale=60.0, iam_managed_policies=True) as aws:
        # Both access modes: the scenarios include a private session.
        harness = deploy_for_tests(
            aws, parameters={"AllowedClusters": ALLOWED, "AccessModes": "public,private"}
        )
        # A cluster outside the allowed list, beside the allowed one.
        aws.seed_cluster(OUTSIDE, beside=harness.cluster)
        run_scenarios(harness)
        yield Run(harness, aws.actions)


# ---------------------------------------------------------------- granted ⊇ used


def test_every_action_performed_is_granted(run: Run) -> None:
    iam = run.harness.aws.client("iam")
    lambda_client = run.harness.aws.client("lambda")
    statements: dict[str, list[Statement]] = {}
    refused = []
    for recorded in run.actions:
        principal = recorded.principal
        if principal.role_arn is None:
            ok = resource_policy_allows(lambda_client, recorded)
        else:
            if principal.role_arn not in statements:
                statements[principal.role_arn] = role_statements(iam, principal.role_arn)
            ok = allowed(
                statements[principal.role_arn],
                recorded.action,
                recorded.resources,
                recorded.resource_tags,
            )
        if not ok:
            refused.append(
                f"{principal.kind} {principal.name}: {recorded.action} on "
                f"{', '.join(recorded.resources) or '(resource unknown)'} (for {recorded.call})"
            )
    assert sorted(set(refused)) == []


def test_the_scenarios_exercised_every_principal(run: Run) -> None:
    stack = run.harness.stack
    # Every function that calls AWS acted (ExtendSession reads only its input and the clock:
    # its role has no policy of its own, which test_template checks)
    functions = {
        stack.function_name(lid)
        for lid, kind in stack.resource_types.items()
        if kind == "AWS::Lambda::Function" and lid != "ExtendSessionFunction"
    }
    acting = {(a.principal.kind, a.principal.name) for a in run.actions}
    assert {("function", name) for name in functions} <= acting
    machines = {
        ("state machine", stack.state_machine_arn(lid).rsplit(":", 1)[-1])
        for lid in ("SessionStateMachine", "TeardownStateMachine", "SweeperStateMachine")
    }
    assert machines <= acting
    rules = {
        ("rule target", stack.resources[lid])
        for lid in (
            "TeardownStateMachineSessionEndedAbnormally",
            "SweeperStateMachineSweepSchedule",
        )
    }
    assert rules <= acting
    assert ("service", "events.amazonaws.com") in acting
    # and the record names resources: most actions are checked on their ARNs
    scoped = [a for a in run.actions if a.resources and a.resources != ("*",)]
    assert len(scoped) > len(run.actions) / 2


def test_the_evaluator_refuses_what_is_not_granted(run: Run) -> None:
    iam = run.harness.aws.client("iam")
    stack = run.harness.stack
    validate = role_statements(iam, stack.attributes["ValidateRequestFunctionRole"]["Arn"])
    assert allowed(validate, "eks:DescribeCluster", (_arn(stack, "eks", "cluster/payments"),))
    assert not allowed(
        validate, "ec2:DeleteSecurityGroup", (_arn(stack, "ec2", "security-group/sg-1"),)
    )
    delete = role_statements(iam, stack.attributes["DeleteSessionSecurityGroupFunctionRole"]["Arn"])
    assert not allowed(delete, "ec2:CreateSecurityGroup", ("*",))
    end = role_statements(iam, stack.attributes["EndSessionFunctionRole"]["Arn"])
    teardown = stack.state_machine_arn("TeardownStateMachine")
    assert not allowed(end, "states:SendTaskSuccess", (teardown,))


def _arn(stack: Any, service: str, resource: str) -> str:
    return f"arn:aws:{service}:{stack.region}:123456789012:{resource}"


# ---------------------------------------------------------------- nothing broad


def is_read_only(action: str) -> bool:
    name = action.split(":", 1)[-1]
    return "*" not in name and name.startswith(READ_ONLY_PREFIXES)


def test_no_role_may_mutate_everything_unconditionally(run: Run) -> None:
    iam = run.harness.aws.client("iam")
    stack = run.harness.stack
    broad = []
    for logical_id, kind in sorted(stack.resource_types.items()):
        if kind != "AWS::IAM::Role":
            continue
        role_name = stack.resources[logical_id]
        attached = {
            policy["PolicyArn"]
            for policy in iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]
        }
        assert attached <= SAM_MANAGED_POLICIES, f"{logical_id} has {attached}"
        for policy in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
            document = iam.get_role_policy(RoleName=role_name, PolicyName=policy)
            for statement in statements_of(document["PolicyDocument"], policy):
                body = statement.body
                if statement.effect != "Allow" or body.get("Condition"):
                    continue
                if "*" not in as_list(body.get("Resource", [])) and "NotResource" not in body:
                    continue
                actions = as_list(body.get("Action", [])) or ["(NotAction)"]
                broad.extend(
                    f"{logical_id}: {action} on *"
                    for action in actions
                    if not is_read_only(action) and action not in UNSCOPABLE_MUTATIONS
                )
    assert broad == []


def test_the_broad_check_is_not_vacuous() -> None:
    assert not is_read_only("ec2:DeleteSecurityGroup")
    assert not is_read_only("ec2:*")
    assert not is_read_only("ssm:PutParameter")
    assert is_read_only("ec2:DescribeSecurityGroups")
    assert is_read_only("ecs:ListTasks")


# ---------------------------------------------------------------- only allowed clusters, own stack


def _group_tags(aws: Any, group_id: str) -> dict[str, str]:
    (group,) = aws.client("ec2").describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    return {tag["Key"]: tag["Value"] for tag in group.get("Tags", [])}


def _may_change(run: Run, role: str, action: str, group_id: str) -> bool:
    """Whether the function's role may ``action`` on the group, with its current tags."""
    stack = run.harness.stack
    statements = role_statements(run.harness.aws.client("iam"), stack.attributes[role]["Arn"])
    group = _arn(stack, "ec2", f"security-group/{group_id}")
    # Authorize and Revoke act on the group and on its rules; DeleteSecurityGroup on the group.
    rules = (
        ()
        if action == "ec2:DeleteSecurityGroup"
        else (_arn(stack, "ec2", "security-group-rule/*"),)
    )
    tags = {group: _group_tags(run.harness.aws, group_id)}
    return allowed(statements, action, (group, *rules), tags)


def _marked_group(run: Run, name: str, cluster: str) -> str:
    """An additional security group an operator marked as ``cluster``'s control plane."""
    ec2 = run.harness.aws.client("ec2")
    tags = [{"Key": "fargate-bastion:control-plane", "Value": cluster}]
    return str(
        ec2.create_security_group(
            GroupName=name,
            Description="control plane only",
            VpcId=run.harness.cluster.vpc_id,
            TagSpecifications=[{"ResourceType": "security-group", "Tags": tags}],
        )["GroupId"]
    )


CONTROL_PLANE_CHANGES = (
    ("AuthorizeControlPlaneIngressFunctionRole", "ec2:AuthorizeSecurityGroupIngress"),
    ("RevokeControlPlaneIngressFunctionRole", "ec2:RevokeSecurityGroupIngress"),
)


@pytest.mark.parametrize(("role", "action"), CONTROL_PLANE_CHANGES)
def test_a_function_cannot_change_a_group_of_a_cluster_outside_the_list(
    run: Run, role: str, action: str
) -> None:
    eks = run.harness.aws.client("eks")
    outside = eks.describe_cluster(name=OUTSIDE)["cluster"]["resourcesVpcConfig"]
    inside = run.harness.cluster.cluster_security_group_id
    # The allowed cluster's security group (EKS tags it with the cluster's name): yes.
    assert _group_tags(run.harness.aws, inside)["aws:eks:cluster-name"] == ALLOWED
    assert _may_change(run, role, action, inside)
    # The cluster security group of a cluster outside the list: no.
    assert not _may_change(run, role, action, outside["clusterSecurityGroupId"])
    # An additional group marked for the allowed cluster: yes; for another cluster: no.
    assert _may_change(run, role, action, _marked_group(run, f"{role}-in", ALLOWED))
    assert not _may_change(run, role, action, _marked_group(run, f"{role}-out", OUTSIDE))
    # Any other group (a VPC's default group, say): no.
    default = run.harness.aws.client("ec2").describe_security_groups(
        Filters=[
            {"Name": "vpc-id", "Values": [run.harness.cluster.vpc_id]},
            {"Name": "group-name", "Values": ["default"]},
        ]
    )["SecurityGroups"][0]["GroupId"]
    assert not _may_change(run, role, action, default)


def _session_group(run: Run, name: str, stack_name: str) -> str:
    """A group tagged as a session group of the stack ``stack_name``."""
    ec2 = run.harness.aws.client("ec2")
    tags = [
        {"Key": "fargate-bastion:session", "Value": name},
        {"Key": "fargate-bastion:stack", "Value": stack_name},
    ]
    return str(
        ec2.create_security_group(
            GroupName=name,
            Description="a session group",
            VpcId=run.harness.cluster.vpc_id,
            TagSpecifications=[{"ResourceType": "security-group", "Tags": tags}],
        )["GroupId"]
    )


@pytest.mark.parametrize(
    ("role", "action"),
    [
        ("DeleteSessionSecurityGroupFunctionRole", "ec2:DeleteSecurityGroup"),
        ("RevokeControlPlaneIngressFunctionRole", "ec2:RevokeSecurityGroupIngress"),
        ("CreateSessionSecurityGroupFunctionRole", "ec2:AuthorizeSecurityGroupIngress"),
        ("CreateSessionSecurityGroupFunctionRole", "ec2:RevokeSecurityGroupEgress"),
    ],
)
def test_a_function_cannot_change_another_stacks_session_group(
    run: Run, role: str, action: str
) -> None:
    own = _session_group(run, f"own-{action}-{role}"[:200], run.harness.stack.stack_name)
    other = _session_group(run, f"other-{action}-{role}"[:200], "another-stack")
    assert _may_change(run, role, action, own)
    assert not _may_change(run, role, action, other)


def test_stop_task_is_granted_only_on_this_stacks_bastions(run: Run) -> None:
    stack = run.harness.stack
    statements = role_statements(
        run.harness.aws.client("iam"), stack.attributes["StopBastionTaskFunctionRole"]["Arn"]
    )
    task = _arn(stack, "ecs", f"task/{stack.resources['BastionCluster']}/0123456789abcdef")
    own = {task: {"fargate-bastion:stack": stack.stack_name, "fargate-bastion:session": "s"}}
    other = {task: {"fargate-bastion:stack": "another-stack", "fargate-bastion:session": "s"}}
    assert allowed(statements, "ecs:StopTask", (task,), own)
    assert not allowed(statements, "ecs:StopTask", (task,), other)


def test_the_condition_evaluator_is_not_vacuous() -> None:
    assert tag_condition_holds("StringLike", "payments", ["payments", "orders"])
    assert not tag_condition_holds("StringLike", "ledger", ["payments"])
    assert tag_condition_holds("StringLike", "ledger", ["*"])
    assert not tag_condition_holds("StringLike", None, ["*"])
    assert not tag_condition_holds("StringEquals", "stack-b", ["stack-a"])
    assert tag_condition_holds("Null", None, ["true"])
    assert not tag_condition_holds("Null", None, ["false"])
    with pytest.raises(NotImplementedError):
        tag_condition_holds("StringNotEquals", "x", ["y"])
    assert resource_tag_key("ec2:ResourceTag/fargate-bastion:stack") == "fargate-bastion:stack"
    assert resource_tag_key("aws:RequestTag/fargate-bastion:stack") is None

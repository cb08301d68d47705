"""template.yaml's private mode: the AccessModes and PrivateSubnetIds parameters, the
private bastion's task (role, definition, session document), what the functions may do
with it, and the managed policy for users."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from bastion.local.deploy import DeployedStack, ParameterError, deploy_stack, load_template
from tasks.common.container_contract import LISTEN_ADDRESS, OPTIONAL_ENVIRONMENT, SSH_PORT

pytestmark = pytest.mark.template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
ACCESS_MODES = ["public", "private", "public,private", "private,public"]
#: The resources private mode adds, and only private mode.
PRIVATE_RESOURCES = {
    "PrivateBastionTaskRole",
    "PrivateBastionTaskDefinition",
    "BastionSessionDocument",
}
SSMMESSAGES_CHANNELS = [
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
]
REGION = "eu-west-1"
REQUIRED = {
    "BastionSubnetIds": "subnet-0123456789abcdef0",
    "BastionImageUri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/fargate-bastion:test",
    "AllowedClusters": "*",
    "ApiAllowedPrincipals": "*",
}
NO_VALUE = {"Ref": "AWS::NoValue"}


@cache
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


def resource(logical_id: str) -> dict[str, Any]:
    found: dict[str, Any] = template()["Resources"][logical_id]
    return found


def branches(item: Any) -> list[Any]:
    """A list item as written, or both branches of its ``Fn::If`` (``AWS::NoValue`` left out)."""
    if isinstance(item, dict) and set(item) == {"Fn::If"}:
        _, when_true, when_false = item["Fn::If"]
        return [branch for branch in (when_true, when_false) if branch != NO_VALUE]
    return [item]


def conditioned(item: Any) -> tuple[str | None, Any]:
    """(the condition, the statement) of a statement that exists only under a condition."""
    if isinstance(item, dict) and set(item) == {"Fn::If"}:
        name, when_true, when_false = item["Fn::If"]
        assert when_false == NO_VALUE, item
        return name, when_true
    return None, item


def function_statements(function_id: str) -> list[tuple[str | None, dict[str, Any]]]:
    policies = resource(function_id)["Properties"]["Policies"]
    return [conditioned(s) for policy in policies for s in policy.get("Statement", [])]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# ----------------------------------------------------------------------- parameters


def test_access_modes_parameter() -> None:
    spec = template()["Parameters"]["AccessModes"]
    assert spec["Type"] == "String"
    assert spec["AllowedValues"] == ACCESS_MODES
    assert spec["Default"] == "public"


def test_private_subnet_ids_parameter_defaults_to_the_bastion_subnets() -> None:
    spec = template()["Parameters"]["PrivateSubnetIds"]
    assert spec["Type"] == "CommaDelimitedList"
    assert spec["Default"] == ""


def test_every_parameter_is_in_the_console_interface() -> None:
    groups = template()["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    grouped = [name for group in groups for name in group["Parameters"]]
    assert sorted(grouped) == sorted(template()["Parameters"])
    assert {"AccessModes", "PrivateSubnetIds"} <= set(grouped)


# ----------------------------------------------------------------------- deployed per mode


@pytest.fixture(scope="module")
def stacks() -> Iterator[dict[str, DeployedStack]]:
    """The template deployed into plain moto once per AccessModes value."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            patch.setenv(name, "testing")
        patch.delenv("AWS_PROFILE", raising=False)
        with mock_aws():
            yield {
                mode: deploy_stack(
                    TEMPLATE,
                    {**REQUIRED, "AccessModes": mode},
                    REGION,
                    stack_name="fb-" + mode.replace(",", "-"),
                )
                for mode in ACCESS_MODES
            }


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AccessModes", "both"),
        ("AccessModes", "public,public"),
        ("AccessModes", "private, public"),
        ("PrivateSubnetIds", "sg-0123456789abcdef0"),
        ("PrivateSubnetIds", "subnet-0123456789abcdef0,subnet-*"),
    ],
)
def test_a_bad_access_mode_or_private_subnet_is_refused_at_deploy(
    stacks: dict[str, DeployedStack], name: str, value: str
) -> None:
    with pytest.raises(ParameterError, match=f"Parameter '{name}'"):
        deploy_stack(TEMPLATE, {**REQUIRED, name: value}, REGION, stack_name="fb-refused")


def test_named_private_subnets_reach_the_functions_as_given(
    stacks: dict[str, DeployedStack],
) -> None:
    subnets = "subnet-0123456789abcdef1,subnet-0123456789abcdef2"
    stack = deploy_stack(
        TEMPLATE,
        {**REQUIRED, "AccessModes": "private", "PrivateSubnetIds": subnets},
        REGION,
        stack_name="fb-subnets",
    )
    lambda_client = boto3.client("lambda", region_name=REGION)
    name = stack.function_name("RunBastionTaskFunction")
    variables = lambda_client.get_function_configuration(FunctionName=name)["Environment"][
        "Variables"
    ]
    assert variables["BASTION_PRIVATE_SUBNETS"] == subnets
    assert variables["BASTION_SUBNETS"] == REQUIRED["BastionSubnetIds"]


@pytest.mark.parametrize("mode", ACCESS_MODES)
def test_private_resources_exist_only_where_private_is_allowed(
    stacks: dict[str, DeployedStack], mode: str
) -> None:
    stack = stacks[mode]
    created = PRIVATE_RESOURCES & set(stack.resources)
    assert created == (PRIVATE_RESOURCES if "private" in mode.split(",") else set())


@pytest.mark.parametrize("mode", ACCESS_MODES)
def test_the_deployed_user_policy_opens_session_manager_only_in_private_mode(
    stacks: dict[str, DeployedStack], mode: str
) -> None:
    stack = stacks[mode]
    iam = boto3.client("iam", region_name=REGION)
    arn = stack.outputs["SessionUserPolicyArn"]
    assert arn == stack.resources["SessionUserPolicy"]
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]
    statements = document["Document"]["Statement"]
    actions = {action for s in statements for action in as_list(s["Action"])}
    session_manager = {"ssm:StartSession", "ssm:TerminateSession", "ssm:ResumeSession"}
    assert bool(actions & session_manager) == ("private" in mode.split(","))
    assert {"execute-api:Invoke", "logs:GetLogEvents"} <= actions
    if "private" in mode.split(","):
        # The stack's own cluster and document, resolved.
        text = json.dumps(statements)
        assert f":task/{stack.resources['BastionCluster']}/*" in text
        assert f":document/{stack.outputs['BastionSessionDocumentName']}" in text


@pytest.mark.parametrize("mode", ACCESS_MODES)
def test_the_run_task_grant_follows_the_modes(stacks: dict[str, DeployedStack], mode: str) -> None:
    stack = stacks[mode]
    iam = boto3.client("iam", region_name=REGION)
    role = stack.resources["RunBastionTaskFunctionRole"]
    names = iam.list_role_policies(RoleName=role)["PolicyNames"]
    granted = [
        s
        for n in names
        for s in iam.get_role_policy(RoleName=role, PolicyName=n)["PolicyDocument"]["Statement"]
    ]
    runnable = {s["Resource"] for s in granted if s["Action"] == "ecs:RunTask"}
    expected = set()
    if "public" in mode.split(","):
        expected.add(stack.outputs["BastionTaskDefinitionArn"])
    if "private" in mode.split(","):
        expected.add(stack.outputs["PrivateBastionTaskDefinitionArn"])
    assert runnable == expected
    (pass_role,) = [s for s in granted if s["Action"] == "iam:PassRole"]
    passed = set(as_list(pass_role["Resource"]))
    roles = [stack.attributes["BastionExecutionRole"]["Arn"]]
    if "public" in mode.split(","):
        roles.append(stack.attributes["BastionTaskRole"]["Arn"])
    if "private" in mode.split(","):
        roles.append(stack.attributes["PrivateBastionTaskRole"]["Arn"])
    assert passed == set(roles)


def test_the_deployed_session_document_is_a_port_session_to_22(
    stacks: dict[str, DeployedStack],
) -> None:
    stack = stacks["public,private"]
    ssm = boto3.client("ssm", region_name=REGION)
    name = stack.outputs["BastionSessionDocumentName"]
    assert name == stack.resources["BastionSessionDocument"]
    document = ssm.get_document(Name=name)
    assert document["DocumentType"] == "Session"
    content = json.loads(document["Content"])
    assert content["sessionType"] == "Port"
    assert content["properties"] == {"portNumber": "22"}
    assert "parameters" not in content


def test_the_deployed_functions_know_the_private_task_and_document(
    stacks: dict[str, DeployedStack],
) -> None:
    lambda_client = boto3.client("lambda", region_name=REGION)
    for mode, stack in stacks.items():
        name = stack.function_name("RunBastionTaskFunction")
        variables = lambda_client.get_function_configuration(FunctionName=name)["Environment"][
            "Variables"
        ]
        assert variables["BASTION_ACCESS_MODES"] == mode
        assert variables["BASTION_PRIVATE_SUBNETS"] == ""
        if "private" in mode.split(","):
            assert (
                variables["BASTION_PRIVATE_TASK_DEFINITION"]
                == stack.outputs["PrivateBastionTaskDefinitionArn"]
            )
            assert (
                variables["BASTION_SESSION_DOCUMENT"] == stack.outputs["BastionSessionDocumentName"]
            )
        else:
            assert variables["BASTION_PRIVATE_TASK_DEFINITION"] == ""
            assert variables["BASTION_SESSION_DOCUMENT"] == ""


def test_named_private_subnets_reach_the_functions() -> None:
    variables = template()["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["BASTION_PRIVATE_SUBNETS"] == {"Fn::Join": [",", {"Ref": "PrivateSubnetIds"}]}
    assert variables["BASTION_ACCESS_MODES"] == {"Ref": "AccessModes"}


# ----------------------------------------------------------------------- the private task


def test_the_private_task_role_opens_session_manager_channels_only() -> None:
    role = resource("PrivateBastionTaskRole")
    assert role["Condition"] == "AllowPrivateAccess"
    props = role["Properties"]
    # The same confused-deputy guard as the public bastion's role.
    assert (
        props["AssumeRolePolicyDocument"]
        == resource("BastionTaskRole")["Properties"]["AssumeRolePolicyDocument"]
    )
    assert "ManagedPolicyArns" not in props
    (policy,) = props["Policies"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement == {"Effect": "Allow", "Action": SSMMESSAGES_CHANNELS, "Resource": "*"}


def _container(logical_id: str) -> dict[str, Any]:
    (container,) = resource(logical_id)["Properties"]["ContainerDefinitions"]
    return dict(container)


def test_the_private_task_definition_differs_from_the_public_one_only_where_it_must() -> None:
    public = resource("BastionTaskDefinition")["Properties"]
    private_definition = resource("PrivateBastionTaskDefinition")
    assert private_definition["Condition"] == "AllowPrivateAccess"
    private = private_definition["Properties"]
    # The task: the same but for its identity and family.
    assert private["TaskRoleArn"] == {"Fn::GetAtt": ["PrivateBastionTaskRole", "Arn"]}
    assert private["Family"] == {"Fn::Sub": "${AWS::StackName}-private-bastion"}
    unchanged = set(public) - {"TaskRoleArn", "Family", "ContainerDefinitions"}
    assert set(private) - {"TaskRoleArn", "Family", "ContainerDefinitions"} == unchanged
    assert {key: private[key] for key in unchanged} == {key: public[key] for key in unchanged}
    # The container: sshd on the loopback (no port mapping: nothing listens on the task's
    # interface), a writable root and an init process for ECS Exec's agent; everything
    # else the same.
    public_container, private_container = (
        _container("BastionTaskDefinition"),
        _container("PrivateBastionTaskDefinition"),
    )
    assert private_container["Environment"] == [{"Name": LISTEN_ADDRESS, "Value": "127.0.0.1"}]
    assert LISTEN_ADDRESS in OPTIONAL_ENVIRONMENT
    assert "PortMappings" not in private_container
    assert private_container["ReadonlyRootFilesystem"] is False
    assert public_container["ReadonlyRootFilesystem"] is True
    differing = {"Environment", "PortMappings", "ReadonlyRootFilesystem", "LinuxParameters"}
    shared = {key: value for key, value in public_container.items() if key not in differing}
    assert {k: v for k, v in private_container.items() if k not in differing} == shared
    # ECS Exec's recommendation, and still no capability at all.
    assert private_container["LinuxParameters"] == {
        **public_container["LinuxParameters"],
        "InitProcessEnabled": True,
    }
    assert private_container["LinuxParameters"]["Capabilities"] == {"Drop": ["ALL"]}
    assert private_container["User"] == "10001"


def test_the_session_document_reaches_sshd_on_22_and_nothing_else() -> None:
    document = resource("BastionSessionDocument")
    assert document["Type"] == "AWS::SSM::Document"
    assert document["Condition"] == "AllowPrivateAccess"
    props = document["Properties"]
    assert props["DocumentType"] == "Session"
    content = props["Content"]
    assert set(content) <= {"schemaVersion", "description", "sessionType", "properties"}
    assert (content["schemaVersion"], content["sessionType"]) == ("1.0", "Port")
    # A fixed port and no parameters: a caller cannot choose another port or a host, and
    # without localPortNumber the plugin relays stdio (as AWS-StartSSHSession does).
    assert content["properties"] == {"portNumber": OPTIONAL_ENVIRONMENT[SSH_PORT]}
    assert content["properties"]["portNumber"] == "22"


# ----------------------------------------------------------------------- the functions' IAM


def _allows_run_task(
    statements: list[dict[str, Any]], task_definition: str, cluster: str, execute: bool | None
) -> bool:
    """Whether an Allow statement grants RunTask of ``task_definition`` on ``cluster``,
    with enableExecuteCommand ``execute`` (None: not in the request). Only the operators
    the RunTask statements use are read; any other fails the test."""
    context: dict[str, Any] = {"ecs:cluster": cluster}
    if execute is not None:
        context["ecs:enable-execute-command"] = "true" if execute else "false"
    for statement in statements:
        if statement["Action"] != "ecs:RunTask" or statement["Resource"] != task_definition:
            continue
        holds = True
        for operator, tests in statement.get("Condition", {}).items():
            for key, expected in tests.items():
                present = key in context
                if operator == "ArnEquals":
                    holds &= present and context[key] == expected
                elif operator == "Bool":
                    holds &= present and context[key] == expected
                elif operator == "BoolIfExists":
                    holds &= not present or context[key] == expected
                else:
                    pytest.fail(f"a condition operator this check does not read: {operator}")
        if holds:
            return True
    return False


def test_only_the_private_task_runs_with_ecs_exec() -> None:
    statements = [s for _, s in function_statements("RunBastionTaskFunction")]
    public, private = {"Ref": "BastionTaskDefinition"}, {"Ref": "PrivateBastionTaskDefinition"}
    cluster = {"Fn::GetAtt": ["BastionCluster", "Arn"]}

    def allowed(definition: dict[str, str], execute: bool | None, where: Any = cluster) -> bool:
        return _allows_run_task(statements, definition, where, execute)  # type: ignore[arg-type]

    # The public bastion: without ECS Exec only (whether the key is sent or not).
    assert allowed(public, None) and allowed(public, False)
    assert not allowed(public, True)
    # The private bastion: with ECS Exec only.
    assert allowed(private, True)
    assert not allowed(private, False) and not allowed(private, None)
    # Neither on another cluster.
    assert not allowed(public, None, "arn:aws:ecs:eu-west-1:123456789012:cluster/other")
    assert not allowed(private, True, "arn:aws:ecs:eu-west-1:123456789012:cluster/other")


def test_the_run_task_statements_exist_per_mode() -> None:
    conditions = {
        json.dumps(statement["Resource"]): condition
        for condition, statement in function_statements("RunBastionTaskFunction")
        if statement["Action"] == "ecs:RunTask"
    }
    assert conditions == {
        json.dumps({"Ref": "BastionTaskDefinition"}): "AllowPublicAccess",
        json.dumps({"Ref": "PrivateBastionTaskDefinition"}): "AllowPrivateAccess",
    }


def test_the_new_task_role_is_passed_to_ecs_tasks_only() -> None:
    (statement,) = [
        s for _, s in function_statements("RunBastionTaskFunction") if s["Action"] == "iam:PassRole"
    ]
    assert statement["Condition"] == {
        "StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
    }
    passed = [branch for item in statement["Resource"] for branch in branches(item)]
    assert passed == [
        {"Fn::GetAtt": ["BastionTaskRole", "Arn"]},
        {"Fn::GetAtt": ["BastionExecutionRole", "Arn"]},
        {"Fn::GetAtt": ["PrivateBastionTaskRole", "Arn"]},
    ]
    assert statement["Resource"][2] == {
        "Fn::If": [
            "AllowPrivateAccess",
            {"Fn::GetAtt": ["PrivateBastionTaskRole", "Arn"]},
            NO_VALUE,
        ]
    }


def test_private_mode_widens_no_other_function() -> None:
    # Only RunBastionTask's grants depend on the modes.
    for logical_id, spec in template()["Resources"].items():
        if spec["Type"] != "AWS::Serverless::Function" or logical_id == "RunBastionTaskFunction":
            continue
        assert "AccessModes" not in json.dumps(spec), logical_id
        assert all(condition is None for condition, _ in function_statements(logical_id)), (
            logical_id
        )


# ----------------------------------------------------------------------- the users' policy

#: The policy's text with the stack's values as docs/deployment.md's placeholders.
PLACEHOLDERS = {
    "${AWS::Partition}": "aws",
    "${AWS::Region}": "REGION",
    "${AWS::AccountId}": "ACCOUNT_ID",
    "${BastionApi}": "API_ID",
    "${BastionApi.Stage}": "v1",
    "${BastionLogGroup}": "LOG_GROUP",
    "${BastionCluster}": "BASTION_CLUSTER",
    "${BastionSessionDocument}": "SESSION_DOCUMENT",
}


def _as_documented(value: Any) -> Any:
    if isinstance(value, list):
        return [_as_documented(item) for item in value]
    if isinstance(value, dict):
        if set(value) == {"Fn::Sub"}:
            text = value["Fn::Sub"]
            for variable, placeholder in PLACEHOLDERS.items():
                text = text.replace(variable, placeholder)
            assert "${" not in text.replace("${aws:userid}", ""), text
            return text
        if value == {"Ref": "AWS::StackName"}:
            return "STACK_NAME"
        return {key: _as_documented(item) for key, item in value.items()}
    return value


def user_policy_statements() -> list[tuple[str | None, dict[str, Any]]]:
    policy = resource("SessionUserPolicy")
    assert policy["Type"] == "AWS::IAM::ManagedPolicy"
    document = policy["Properties"]["PolicyDocument"]
    assert document["Version"] == "2012-10-17"
    return [conditioned(statement) for statement in document["Statement"]]


def documented(heading: str) -> dict[str, Any]:
    text = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
    section = text[text.index(heading) :]
    block = section[section.index("```json") + len("```json") : section.index("```\n", 8)]
    parsed: dict[str, Any] = json.loads(block)
    return parsed


def test_the_user_policy_is_output() -> None:
    assert template()["Outputs"]["SessionUserPolicyArn"]["Value"] == {"Ref": "SessionUserPolicy"}


def test_the_user_policy_names_every_action_and_no_wildcard() -> None:
    statements = user_policy_statements()
    for _, statement in statements:
        assert statement["Effect"] == "Allow"
        for action in as_list(statement["Action"]):
            assert "*" not in action, action
        assert "*" not in as_list(statement["Resource"]), statement
    actions = {a for _, s in statements for a in as_list(s["Action"])}
    assert actions == {
        "execute-api:Invoke",
        "logs:GetLogEvents",
        "ssm:StartSession",
        "ssm:TerminateSession",
        "ssm:ResumeSession",
    }


def test_the_user_policy_grants_what_the_documented_policy_grants_on_every_cluster() -> None:
    # docs/deployment.md's policy for one cluster, on every cluster the stack allows.
    # (Their Sids differ: the documented one names its cluster.)
    one_cluster = documented("One cluster per policy")["Statement"]
    every_cluster = json.loads(
        json.dumps(one_cluster).replace("/clusters/payments/", "/clusters/*/")
    )
    public_part = [
        _as_documented(s) for condition, s in user_policy_statements() if condition is None
    ]
    assert [s.pop("Sid") for s in public_part] == ["BastionSessions", "BastionLogLines"]
    assert [s.pop("Sid") for s in every_cluster] == ["BastionSessionsOnPayments", "BastionLogLines"]
    assert public_part == every_cluster


def test_the_private_grants_are_the_documented_ones_and_only_in_private_mode() -> None:
    private_part = [
        _as_documented(statement)
        for condition, statement in user_policy_statements()
        if condition is not None
    ]
    assert {condition for condition, _ in user_policy_statements()} == {None, "AllowPrivateAccess"}
    assert (
        private_part
        == documented("Private sessions: Session Manager on your own bastion")["Statement"]
    )


def test_session_manager_opens_only_on_the_callers_own_bastion_with_the_stacks_document() -> None:
    by_sid = {s["Sid"]: s for _, s in user_policy_statements()}
    on_task = by_sid["SessionManagerOnOwnBastions"]
    assert on_task["Action"] == "ssm:StartSession"
    assert on_task["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}"
        ":task/${BastionCluster}/*"
    }
    assert on_task["Condition"] == {
        "StringEquals": {
            "aws:ResourceTag/fargate-bastion:requester-id": "${aws:userid}",
            "aws:ResourceTag/fargate-bastion:stack": {"Ref": "AWS::StackName"},
        },
        "BoolIfExists": {"ssm:SessionDocumentAccessCheck": "true"},
    }
    with_document = by_sid["StacksSessionDocument"]
    assert with_document["Action"] == "ssm:StartSession"
    # The stack's own document: its name is the document resource's Ref.
    assert with_document["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}"
        ":document/${BastionSessionDocument}"
    }
    assert with_document["Condition"] == {
        "BoolIfExists": {"ssm:SessionDocumentAccessCheck": "true"}
    }
    own = by_sid["OwnSessionManagerSessions"]
    assert sorted(own["Action"]) == ["ssm:ResumeSession", "ssm:TerminateSession"]
    assert own["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:session/*"
    }
    assert own["Condition"] == {
        "StringLike": {"ssm:resourceTag/aws:ssmmessages:session-id": "${aws:userid}"}
    }


def test_the_requester_tag_is_the_one_sessions_carry() -> None:
    from tasks.common import tags

    by_sid = {s["Sid"]: s for _, s in user_policy_statements()}
    keys = set(by_sid["SessionManagerOnOwnBastions"]["Condition"]["StringEquals"])
    assert keys == {f"aws:ResourceTag/{tags.REQUESTER_ID_TAG}", f"aws:ResourceTag/{tags.STACK_TAG}"}


def test_ecs_exec_sessions_write_nothing_into_the_bastion_log_group() -> None:
    # With ECS Exec's DEFAULT logging the task role would write ECS Exec output into the
    # task's awslogs group: the bastion group, whose streams are trusted to be written by
    # the awslogs driver alone (their started lines carry the host keys). A port session
    # carries only the encrypted SSH stream, so nothing is lost.
    configuration = resource("BastionCluster")["Properties"]["Configuration"]
    assert configuration == {"ExecuteCommandConfiguration": {"Logging": "NONE"}}
    statements = resource("PrivateBastionTaskRole")["Properties"]["Policies"]
    assert "logs:" not in json.dumps(statements)


def test_the_deployed_cluster_logs_no_ecs_exec_session(stacks: dict[str, DeployedStack]) -> None:
    ecs = boto3.client("ecs", region_name=REGION)
    stack = stacks["public,private"]
    (cluster,) = ecs.describe_clusters(
        clusters=[stack.resources["BastionCluster"]], include=["CONFIGURATIONS"]
    )["clusters"]
    assert cluster["configuration"]["executeCommandConfiguration"]["logging"] == "NONE"

"""deploy_stack: template.yaml into plain moto, through the public AWS APIs."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from bastion.local.deploy import (
    SUPPORTED_CONDITION_FUNCTIONS,
    SUPPORTED_INTRINSIC_FUNCTIONS,
    SUPPORTED_RESOURCE_TYPES,
    DeployedStack,
    DeployError,
    ParameterError,
    UnsupportedResourceError,
    deploy_stack,
    translate_template,
)

pytestmark = pytest.mark.local

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
REGION = "eu-west-1"
STACK = "fargate-bastion"
SUBNETS = "subnet-0123456789abcdef0,subnet-0fedcba9876543210"
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/fargate-bastion:test"
PARAMETERS = {
    "BastionSubnetIds": SUBNETS,
    "BastionImageUri": IMAGE,
    "AllowedClusters": "*",
    "ApiAllowedPrincipals": "*",
}
TASKS = {
    "ValidateRequest": "tasks.validate_request",
    "FindControlPlane": "tasks.find_control_plane",
    "CreateSessionSecurityGroup": "tasks.create_session_security_group",
    "AuthorizeControlPlaneIngress": "tasks.authorize_control_plane_ingress",
    "RunBastionTask": "tasks.run_bastion_task",
    "WaitForBastionAddress": "tasks.wait_for_bastion_address",
    "HoldSession": "tasks.hold_session",
    "ExtendSession": "tasks.extend_session",
    "EndSession": "tasks.end_session",
    "RequestExtension": "tasks.request_extension",
    "StopBastionTask": "tasks.stop_bastion_task",
    "RevokeControlPlaneIngress": "tasks.revoke_control_plane_ingress",
    "DeleteSessionSecurityGroup": "tasks.delete_session_security_group",
    "DeleteHoldParameter": "tasks.delete_hold_parameter",
    "SignalBastionReady": "tasks.signal_bastion_ready",
}
MACHINE_TASKS = {
    "SessionStateMachine": set(TASKS) - {"EndSession", "RequestExtension", "SignalBastionReady"},
    "TeardownStateMachine": {
        "StopBastionTask",
        "RevokeControlPlaneIngress",
        "DeleteSessionSecurityGroup",
        "DeleteHoldParameter",
    },
}


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def plain_moto(credentials: None) -> Iterator[None]:
    # Plain moto, not the conftest's LocalAws: the deployer must stand on the public APIs.
    with mock_aws():
        yield


@pytest.fixture
def stack(plain_moto: None) -> DeployedStack:
    return deploy_stack(TEMPLATE, PARAMETERS, REGION)


def client(service: str) -> Any:
    return boto3.client(service, region_name=REGION)  # type: ignore[call-overload]


def write(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def inline_policies(role_name: str) -> list[dict[str, Any]]:
    iam = client("iam")
    names = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
    documents = [iam.get_role_policy(RoleName=role_name, PolicyName=n) for n in names]
    return [
        statement for document in documents for statement in document["PolicyDocument"]["Statement"]
    ]


def task_targets(definition: dict[str, Any]) -> set[str]:
    """The function every Task state of a definition invokes."""
    targets = set()
    for state in definition["States"].values():
        if state["Type"] == "Task":
            targets.add(state.get("Parameters", {}).get("FunctionName", state["Resource"]))
    return targets


# ------------------------------------------------------------------ the real template


def test_every_resource_is_created(stack: DeployedStack) -> None:
    kinds = sorted(stack.resource_types.values())
    # the workflow's 15 tasks (FindOrphanedSessions and RequestExtension included), the
    # session API's function, and SignalBastionReady (the bastion log group's subscription)
    assert kinds.count("AWS::Lambda::Function") == 15 + 1 + 1
    # session, teardown, sweeper
    assert kinds.count("AWS::StepFunctions::StateMachine") == 3
    assert kinds.count("AWS::ECS::Cluster") == 1
    assert kinds.count("AWS::ECS::TaskDefinition") == 1
    # a role per function and per state machine, one per rule that starts a state machine
    # (session ended abnormally → teardown, the sweeper's schedule), and the bastion's task
    # and execution roles
    assert kinds.count("AWS::IAM::Role") == 17 + 3 + 2 + 2
    # a log group per function and per state machine, the bastion's, the API's access log
    assert kinds.count("AWS::Logs::LogGroup") == 17 + 3 + 1 + 1
    # teardown on abnormal ends, EndSession on the bastion task stopping, the sweep schedule
    assert kinds.count("AWS::Events::Rule") == 3
    # EventBridge may invoke EndSession; API Gateway the API function, once per route
    # (seven); CloudWatch Logs SignalBastionReady
    assert kinds.count("AWS::Lambda::Permission") == 1 + 7 + 1
    assert kinds.count("AWS::Logs::SubscriptionFilter") == 1
    assert set(stack.resources) == set(stack.resource_types) == set(stack.attributes)


def test_functions_keep_handler_environment_role_and_limits(
    stack: DeployedStack, subtests: pytest.Subtests
) -> None:
    from tasks.common.settings import Settings

    for task, module in sorted(TASKS.items()):
        with subtests.test(task=task):
            config = client("lambda").get_function_configuration(
                FunctionName=stack.function_name(f"{task}Function")
            )
            assert config["Handler"] == f"{module}.handler"
            assert config["Runtime"] == "python3.13"
            assert config["Architectures"] == ["arm64"]
            assert (config["Timeout"], config["MemorySize"]) == (30, 256)
            assert config["TracingConfig"] == {"Mode": "Active"}
            assert config["Role"] == stack.attributes[f"{task}FunctionRole"]["Arn"]
            variables = config["Environment"]["Variables"]
            assert variables["BASTION_ECS_CLUSTER"] == stack.outputs["BastionClusterArn"]
            assert variables["BASTION_TASK_DEFINITION"] == stack.outputs["BastionTaskDefinitionArn"]
            assert variables["BASTION_SUBNETS"] == SUBNETS
            assert variables["POWERTOOLS_SERVICE_NAME"] == "fargate-bastion"
            # The deployed environment is one the tasks' settings parser accepts.
            settings = Settings.from_environ(variables)
            assert settings.subnets == tuple(SUBNETS.split(","))
            assert (settings.default_duration_minutes, settings.max_duration_minutes) == (60, 480)
            assert settings.allowed_clusters == ("*",)


def test_state_machine_definitions_name_the_created_functions(
    stack: DeployedStack, subtests: pytest.Subtests
) -> None:
    for machine_id, tasks in sorted(MACHINE_TASKS.items()):
        with subtests.test(machine=machine_id):
            described = client("stepfunctions").describe_state_machine(
                stateMachineArn=stack.state_machine_arn(machine_id)
            )
            assert "${" not in described["definition"]
            definition = json.loads(described["definition"])
            assert task_targets(definition) == {
                stack.function_arn(f"{task}Function") for task in tasks
            }
            assert described["type"] == "STANDARD"
            assert described["roleArn"] == stack.attributes[f"{machine_id}Role"]["Arn"]
            assert described["tracingConfiguration"] == {"enabled": True}
            logging = described["loggingConfiguration"]
            assert logging["level"] == "ERROR" and logging["includeExecutionData"] is False
            log_group_arn = stack.attributes[f"{machine_id}LogGroup"]["Arn"]
            assert logging["destinations"] == [
                {"cloudWatchLogsLogGroup": {"logGroupArn": log_group_arn}}
            ]


def test_state_machines_have_stable_names(stack: DeployedStack) -> None:
    assert stack.attributes["SessionStateMachine"]["Name"] == f"{STACK}-session"
    assert stack.attributes["TeardownStateMachine"]["Name"] == f"{STACK}-teardown"
    # EndSession's grant, built from the name, is the machine actually created.
    granted = [
        s["Resource"]
        for s in inline_policies(stack.resources["EndSessionFunctionRole"])
        if s["Action"] == "states:SendTaskSuccess"
    ]
    assert granted == [stack.state_machine_arn("SessionStateMachine")]


def test_state_machine_roles_invoke_only_their_functions(stack: DeployedStack) -> None:
    for machine_id, tasks in MACHINE_TASKS.items():
        invokable = {
            resource
            for s in inline_policies(stack.resources[f"{machine_id}Role"])
            if s["Action"] == ["lambda:InvokeFunction"]
            for resource in [s["Resource"]]
        }
        assert invokable == {f"{stack.function_arn(f'{t}Function')}*" for t in tasks}


def test_ecs_cluster_and_fargate_task_definition(stack: DeployedStack) -> None:
    ecs = client("ecs")
    (cluster,) = ecs.describe_clusters(clusters=[stack.resources["BastionCluster"]])["clusters"]
    assert cluster["clusterArn"] == stack.outputs["BastionClusterArn"]
    task_definition = ecs.describe_task_definition(
        taskDefinition=stack.resources["BastionTaskDefinition"]
    )["taskDefinition"]
    assert task_definition["family"] == f"{STACK}-bastion"
    assert task_definition["requiresCompatibilities"] == ["FARGATE"]
    assert task_definition["networkMode"] == "awsvpc"
    assert (task_definition["cpu"], task_definition["memory"]) == ("256", "512")
    assert task_definition["runtimePlatform"] == {
        "cpuArchitecture": "ARM64",
        "operatingSystemFamily": "LINUX",
    }
    assert task_definition["taskRoleArn"] == stack.attributes["BastionTaskRole"]["Arn"]
    assert task_definition["executionRoleArn"] == stack.attributes["BastionExecutionRole"]["Arn"]
    (container,) = task_definition["containerDefinitions"]
    assert (container["name"], container["image"], container["essential"]) == (
        "bastion",
        IMAGE,
        True,
    )
    assert container["portMappings"] == [{"containerPort": 22, "protocol": "tcp"}]
    assert container["stopTimeout"] == 30
    assert container["logConfiguration"]["options"] == {
        "awslogs-group": f"/ecs/{STACK}/bastion",
        "awslogs-region": REGION,
        "awslogs-stream-prefix": "bastion",
    }


def test_roles_carry_their_resolved_policies(stack: DeployedStack) -> None:
    task_role = client("iam").get_role(RoleName=stack.resources["BastionTaskRole"])["Role"]
    assert task_role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "ecs-tasks.amazonaws.com"
    }
    assert any(
        s["Action"] == "eks:DescribeCluster"
        for s in inline_policies(stack.resources["BastionTaskRole"])
    )
    (pass_role,) = [
        s
        for s in inline_policies(stack.resources["RunBastionTaskFunctionRole"])
        if s["Action"] == "iam:PassRole"
    ]
    assert pass_role["Resource"] == [
        stack.attributes["BastionTaskRole"]["Arn"],
        stack.attributes["BastionExecutionRole"]["Arn"],
    ]
    (run_task,) = [
        s
        for s in inline_policies(stack.resources["RunBastionTaskFunctionRole"])
        if s["Action"] == "ecs:RunTask"
    ]
    assert run_task["Resource"] == stack.outputs["BastionTaskDefinitionArn"]
    assert run_task["Condition"] == {
        "ArnEquals": {"ecs:cluster": stack.outputs["BastionClusterArn"]},
        "BoolIfExists": {"ecs:enable-execute-command": "false"},
    }


def test_log_groups_have_the_retention(stack: DeployedStack) -> None:
    groups = {
        group["logGroupName"]: group for group in client("logs").describe_log_groups()["logGroups"]
    }
    for task in TASKS:
        name = f"/aws/lambda/{stack.function_name(f'{task}Function')}"
        assert groups[name]["retentionInDays"] == 30
    assert groups[f"/ecs/{STACK}/bastion"]["retentionInDays"] == 30


def test_outputs_and_stack_api(stack: DeployedStack) -> None:
    assert stack.outputs["SessionStateMachineArn"] == stack.state_machine_arn("SessionStateMachine")
    assert stack.outputs["TeardownStateMachineArn"] == stack.state_machine_arn(
        "TeardownStateMachine"
    )
    assert stack.outputs["EndSessionFunctionArn"] == stack.function_arn("EndSessionFunction")
    assert re.fullmatch(
        r"fargate-bastion-EndSessionFunction-[A-Z2-7]{12}",
        stack.function_name("EndSessionFunction"),
    )
    # Effective parameters: what was given, and the defaults.
    assert stack.parameters["BastionSubnetIds"] == SUBNETS
    assert stack.parameters["DefaultDurationMinutes"] == "60"
    assert stack.parameters["AssignPublicIp"] == "ENABLED"
    with pytest.raises(KeyError, match="SessionStateMachine"):
        stack.function_name("SessionStateMachine")
    with pytest.raises(KeyError, match="not in the stack"):
        stack.state_machine_arn("NoSuchMachine")
    with pytest.raises(dataclasses.FrozenInstanceError):
        stack.outputs = {}  # type: ignore[misc]


def test_what_differs_from_aws_is_listed(stack: DeployedStack) -> None:
    gaps = "\n".join(stack.local_gaps)
    assert "AWSLambdaPowertoolsPythonV3-python313-arm64" in gaps
    assert "AWSLambdaBasicExecutionRole not attached" in gaps


def test_managed_policies_attach_when_moto_loads_them(credentials: None) -> None:
    with mock_aws(config={"iam": {"load_aws_managed_policies": True}}):
        stack = deploy_stack(TEMPLATE, PARAMETERS, REGION)
        attached = client("iam").list_attached_role_policies(
            RoleName=stack.resources["HoldSessionFunctionRole"]
        )["AttachedPolicies"]
    assert {p["PolicyName"] for p in attached} == {
        "AWSLambdaBasicExecutionRole",
        "AWSXrayWriteOnlyAccess",
    }
    assert not any("managed policy" in gap for gap in stack.local_gaps)


def test_stack_name_and_parameters_reach_the_resources(plain_moto: None) -> None:
    stack = deploy_stack(
        TEMPLATE,
        {**PARAMETERS, "AllowedClusters": "payments,search", "AssignPublicIp": "DISABLED"},
        REGION,
        stack_name="bastions",
    )
    assert stack.state_machine_arn("SessionStateMachine").endswith(":stateMachine:bastions-session")
    variables = client("lambda").get_function_configuration(
        FunctionName=stack.function_name("ValidateRequestFunction")
    )["Environment"]["Variables"]
    assert variables["ALLOWED_CLUSTERS"] == "payments,search"
    assert variables["BASTION_ASSIGN_PUBLIC_IP"] == "DISABLED"


# ------------------------------------------------------------------ refusals


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("AssignPublicIp", "MAYBE", "must be one of ENABLED, DISABLED"),
        ("WidestIpv4Prefix", "33", "must be at most 32"),
        ("WidestIpv4Prefix", "7", "must be at least 8"),
        ("DefaultDurationMinutes", "sixty", "must be a number"),
        ("LogRetentionDays", "2", "must be one of"),
        ("LogLevel", "LOUD", "must be one of"),
        ("BastionSubnetIds", "vpc-0123456789abcdef0", "must be an AWS::EC2::Subnet::Id"),
        ("BastionSubnetIds", "", "must name at least one"),
        ("BastionImageUri", "an image", "must match pattern"),
        ("AllowedClusters", "payments,bad name", "must match pattern"),
        ("AllowedClusters", "", "must match pattern"),
        ("ApiAllowedPrincipals", "123456789012", "must match pattern"),
        ("PowertoolsLayerArn", "latest", "must match pattern"),
    ],
)
def test_bad_parameter_value_is_refused_by_name(
    plain_moto: None, name: str, value: str, says: str
) -> None:
    with pytest.raises(ParameterError, match=f"Parameter '{name}' {says}"):
        deploy_stack(TEMPLATE, {**PARAMETERS, name: value}, REGION)
    # Nothing was created before the refusal.
    assert client("lambda").list_functions()["Functions"] == []


def test_missing_and_unknown_parameters_are_refused(plain_moto: None) -> None:
    with pytest.raises(ParameterError, match="'BastionImageUri' must have a value"):
        deploy_stack(TEMPLATE, {"BastionSubnetIds": SUBNETS}, REGION)
    # Who may open which door has no default: a deploy must choose (* on purpose).
    for name in ("AllowedClusters", "ApiAllowedPrincipals"):
        chosen = {key: value for key, value in PARAMETERS.items() if key != name}
        with pytest.raises(ParameterError, match=f"'{name}' must have a value"):
            deploy_stack(TEMPLATE, chosen, REGION)
    with pytest.raises(ParameterError, match="SubnetIds"):
        deploy_stack(TEMPLATE, {**PARAMETERS, "SubnetIds": SUBNETS}, REGION)


def test_unsupported_resource_types_are_named(plain_moto: None, tmp_path: Path) -> None:
    # GIVEN a template with types the deployer cannot create beside one it can
    template = write(
        tmp_path / "template.json",
        {
            "Resources": {
                "Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": "/x"}},
                "Topic": {"Type": "AWS::SNS::Topic"},
                "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "x"}},
            }
        },
    )
    # WHEN it is deployed, THEN both types are named, and nothing was created
    with pytest.raises(UnsupportedResourceError) as raised:
        deploy_stack(template, {}, REGION)
    assert raised.value.resource_types == ("AWS::SNS::Topic", "AWS::SQS::Queue")
    assert "Topic (AWS::SNS::Topic)" in str(raised.value)
    assert client("logs").describe_log_groups()["logGroups"] == []


# ------------------------------------------------------------------ intrinsics and order


def test_circular_dependency_is_reported(plain_moto: None, tmp_path: Path) -> None:
    template = write(
        tmp_path / "template.json",
        {
            "Resources": {
                "A": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": {"Ref": "B"}}},
                "B": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": {"Ref": "A"}}},
            }
        },
    )
    with pytest.raises(DeployError, match=r"circular dependency between resources \['A', 'B'\]"):
        deploy_stack(template, {}, REGION)


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ({"Fn::FindInMap": ["Sizes", "dev", "Days"]}, "intrinsic function Fn::FindInMap"),
        ({"Fn::Select": [0, ["a"]]}, "intrinsic function Fn::Select"),
        ({"Fn::Cidr": ["10.0.0.0/16", 1, 8]}, "intrinsic function Fn::Cidr"),
        ({"Fn::If": ["Either", "a", "b"]}, "condition function Fn::Or"),
    ],
)
def test_a_function_template_yaml_does_not_use_is_refused_by_name(
    plain_moto: None, tmp_path: Path, value: dict[str, Any], says: str
) -> None:
    template = write(
        tmp_path / "template.json",
        {
            "Conditions": {"Either": {"Fn::Or": [{"Fn::Equals": ["a", "a"]}]}},
            "Resources": {
                "A": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": value}}
            },
        },
    )
    with pytest.raises(DeployError, match=says):
        deploy_stack(template, {}, REGION)
    assert client("logs").describe_log_groups()["logGroups"] == []


def test_a_parameter_type_template_yaml_does_not_use_is_refused_by_name(
    plain_moto: None, tmp_path: Path
) -> None:
    template = write(
        tmp_path / "template.json",
        {
            "Parameters": {"Key": {"Type": "AWS::EC2::KeyPair::KeyName", "Default": "k"}},
            "Resources": {"A": {"Type": "AWS::ECS::Cluster"}},
        },
    )
    with pytest.raises(ParameterError, match="'Key': type AWS::EC2::KeyPair::KeyName"):
        deploy_stack(template, {}, REGION)


def test_unknown_property_is_reported_not_dropped(plain_moto: None, tmp_path: Path) -> None:
    template = write(
        tmp_path / "template.json",
        {
            "Resources": {
                "A": {
                    "Type": "AWS::ECS::Cluster",
                    "Properties": {"ClusterName": "x", "Colour": "blue"},
                }
            }
        },
    )
    with pytest.raises(DeployError, match="A: property 'Colour' is not supported locally"):
        deploy_stack(template, {}, REGION)


# ------------------------------------------------------------------ SAM state machines


def sam_machine_template(tmp_path: Path, substitutions: dict[str, str]) -> Path:
    asl_dir = tmp_path / "asl"
    asl_dir.mkdir()
    write(
        asl_dir / "hello.asl.json",
        {
            "StartAt": "Greet",
            "States": {"Greet": {"Type": "Pass", "Result": "${Greeting}", "End": True}},
        },
    )
    template = tmp_path / "template.yaml"
    template.write_text(
        "Transform: AWS::Serverless-2016-10-31\n"
        "Resources:\n"
        "  Hello:\n"
        "    Type: AWS::Serverless::StateMachine\n"
        "    Properties:\n"
        "      Name: !Sub ${AWS::StackName}-hello\n"
        "      DefinitionUri: asl/hello.asl.json\n"
        f"      DefinitionSubstitutions: {json.dumps(substitutions)}\n"
        "      Policies: []\n",
        encoding="utf-8",
    )
    return template


def test_definition_uri_is_read_relative_to_the_template(plain_moto: None, tmp_path: Path) -> None:
    template = sam_machine_template(tmp_path, {"Greeting": "hello"})
    stack = deploy_stack(template, {}, REGION, stack_name="tiny")
    arn = stack.state_machine_arn("Hello")
    assert arn.endswith(":stateMachine:tiny-hello")
    definition = json.loads(
        client("stepfunctions").describe_state_machine(stateMachineArn=arn)["definition"]
    )
    assert definition["States"]["Greet"]["Result"] == "hello"


def test_placeholder_left_unsubstituted_is_reported(plain_moto: None, tmp_path: Path) -> None:
    template = sam_machine_template(tmp_path, {"Other": "x"})
    with pytest.raises(DeployError, match=r"Hello: placeholders .*\['\$\{Greeting\}'\]"):
        deploy_stack(template, {}, REGION)


# ------------------------------------------------------------------ exactly what template.yaml uses

ACCESS_MODES = ("public", "private", "public,private", "private,public")


def functions(value: Any) -> set[str]:
    """Every intrinsic or condition function ``value`` calls."""
    if isinstance(value, list):
        return set().union(*(functions(item) for item in value))
    if not isinstance(value, dict):
        return set()
    called = {key for key in value if len(value) == 1 and (key == "Ref" or key[:4] == "Fn::")}
    return called.union(*(functions(item) for item in value.values()))


def test_the_deployer_supports_exactly_what_the_translated_template_uses(
    subtests: pytest.Subtests,
) -> None:
    used_types: set[str] = set()
    used_intrinsics: set[str] = set()
    used_conditions: set[str] = set()
    for modes in ACCESS_MODES:
        with subtests.test(AccessModes=modes):
            # GIVEN template.yaml translated as it is deployed with these access modes
            template, _, _ = translate_template(
                TEMPLATE, {**PARAMETERS, "AccessModes": modes}, REGION
            )
            resources = template["Resources"].values()
            types = {resource["Type"] for resource in resources}
            intrinsics = functions(
                [resource.get("Properties", {}) for resource in resources]
                + [output["Value"] for output in template["Outputs"].values()]
            )
            conditions = functions(template["Conditions"]) - {"Ref"}
            # THEN the deployer supports every resource type and function it uses
            assert types <= SUPPORTED_RESOURCE_TYPES
            assert intrinsics <= SUPPORTED_INTRINSIC_FUNCTIONS
            assert conditions <= SUPPORTED_CONDITION_FUNCTIONS
            used_types |= types
            used_intrinsics |= intrinsics
            used_conditions |= conditions
    # AND nothing more: what some access mode uses is all the deployer supports
    assert used_types == SUPPORTED_RESOURCE_TYPES
    assert used_intrinsics == SUPPORTED_INTRINSIC_FUNCTIONS
    assert used_conditions == SUPPORTED_CONDITION_FUNCTIONS

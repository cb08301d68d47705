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
import yaml
from moto import mock_aws

from bastion.local.deploy import (
    DeployedStack,
    DeployError,
    ParameterError,
    UnsupportedResourceError,
    deploy_stack,
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


def test_intrinsics_conditions_and_order(plain_moto: None, tmp_path: Path) -> None:
    template = write(
        tmp_path / "template.json",
        {
            "Parameters": {
                "Env": {"Type": "String", "Default": "dev", "AllowedValues": ["dev", "prod"]},
                "Names": {"Type": "CommaDelimitedList", "Default": "a,b,c"},
            },
            "Mappings": {"Sizes": {"dev": {"Days": 7}, "prod": {"Days": 365}}},
            "Conditions": {
                "IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]},
                "IsDev": {"Fn::Not": [{"Condition": "IsProd"}]},
            },
            "Resources": {
                # Declared first, needed last: the deployer must order by references.
                "Second": {
                    "Type": "AWS::Logs::LogGroup",
                    "Properties": {
                        "LogGroupName": {
                            "Fn::Sub": [
                                "${First}/${Name}/${AWS::Region}/${!Literal}",
                                {"Name": {"Fn::Select": [1, {"Ref": "Names"}]}},
                            ]
                        },
                        "RetentionInDays": {"Fn::If": ["IsProd", 30, {"Ref": "AWS::NoValue"}]},
                    },
                },
                "First": {
                    "Type": "AWS::Logs::LogGroup",
                    "Properties": {
                        "LogGroupName": {"Fn::Join": ["-", ["/first", {"Ref": "Env"}]]},
                        "RetentionInDays": {"Fn::FindInMap": ["Sizes", {"Ref": "Env"}, "Days"]},
                    },
                },
                "OnlyInProd": {
                    "Type": "AWS::SNS::Topic",
                    "Condition": "IsProd",
                },
                "Cluster": {
                    "Type": "AWS::ECS::Cluster",
                    "DependsOn": "Second",
                    "Condition": "IsDev",
                    "Properties": {
                        "ClusterName": {
                            "Fn::Select": [
                                2,
                                {"Fn::Split": [",", {"Fn::Join": [",", {"Ref": "Names"}]}]},
                            ]
                        }
                    },
                },
            },
            "Outputs": {
                "FirstArn": {"Value": {"Fn::GetAtt": ["First", "Arn"]}},
                "Both": {"Value": {"Fn::Sub": "${First}+${Second}"}},
                "Prod": {"Condition": "IsProd", "Value": "yes"},
            },
        },
    )
    stack = deploy_stack(template, {}, REGION, stack_name="tiny")
    # The SNS topic's Condition is false: it is not created, and not reported unsupported.
    assert set(stack.resources) == {"First", "Second", "Cluster"}
    assert stack.resources["Second"] == f"/first-dev/b/{REGION}/${{Literal}}"
    assert stack.resources["Cluster"] == "c"
    groups = {g["logGroupName"]: g for g in client("logs").describe_log_groups()["logGroups"]}
    assert groups["/first-dev"]["retentionInDays"] == 7
    assert "retentionInDays" not in groups[stack.resources["Second"]]
    assert stack.outputs == {
        "FirstArn": f"arn:aws:logs:{REGION}:123456789012:log-group:/first-dev:*",
        "Both": f"/first-dev+{stack.resources['Second']}",
    }


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


def test_unknown_intrinsic_is_reported(plain_moto: None, tmp_path: Path) -> None:
    template = write(
        tmp_path / "template.json",
        {
            "Resources": {
                "A": {
                    "Type": "AWS::Logs::LogGroup",
                    "Properties": {"LogGroupName": {"Fn::Cidr": ["10.0.0.0/16", 1, 8]}},
                }
            }
        },
    )
    with pytest.raises(DeployError, match="Fn::Cidr"):
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


def test_a_managed_policy_is_attached_and_a_yaml_document_is_kept_as_yaml(
    plain_moto: None, tmp_path: Path
) -> None:
    statement = {"Effect": "Allow", "Action": "ssm:StartSession", "Resource": "*"}
    template = write(
        tmp_path / "template.json",
        {
            "Resources": {
                "Role": {
                    "Type": "AWS::IAM::Role",
                    "Properties": {
                        "AssumeRolePolicyDocument": {
                            "Statement": [
                                {
                                    "Effect": "Allow",
                                    "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                                    "Action": "sts:AssumeRole",
                                }
                            ]
                        }
                    },
                },
                "Policy": {
                    "Type": "AWS::IAM::ManagedPolicy",
                    "Properties": {
                        "Description": "users",
                        "PolicyDocument": {"Version": "2012-10-17", "Statement": [statement]},
                        "Roles": [{"Ref": "Role"}],
                    },
                },
                "Document": {
                    "Type": "AWS::SSM::Document",
                    "Properties": {
                        "DocumentType": "Session",
                        "DocumentFormat": "YAML",
                        "UpdateMethod": "Replace",
                        "Content": {
                            "schemaVersion": "1.0",
                            "sessionType": "Port",
                            "properties": {"portNumber": "22"},
                        },
                        "Tags": [{"Key": "team", "Value": "platform"}],
                    },
                },
            },
            "Outputs": {
                "PolicyArn": {"Value": {"Ref": "Policy"}},
                "PolicyId": {"Value": {"Fn::GetAtt": ["Policy", "PolicyId"]}},
                "DocumentName": {"Value": {"Ref": "Document"}},
            },
        },
    )
    stack = deploy_stack(template, {}, REGION, stack_name="tiny")
    # The policy: Ref is its ARN, its document as written, attached to the role.
    iam = client("iam")
    arn = stack.outputs["PolicyArn"]
    policy = iam.get_policy(PolicyArn=arn)["Policy"]
    assert (policy["PolicyId"], policy["Description"]) == (stack.outputs["PolicyId"], "users")
    version = iam.get_policy_version(PolicyArn=arn, VersionId=policy["DefaultVersionId"])
    assert version["PolicyVersion"]["Document"]["Statement"] == [statement]
    attached = iam.list_attached_role_policies(RoleName=stack.resources["Role"])
    assert [p["PolicyArn"] for p in attached["AttachedPolicies"]] == [arn]
    # The document: Ref is its name, its content in the format it names, its tags kept.
    ssm = client("ssm")
    name = stack.outputs["DocumentName"]
    assert name.startswith("tiny-Document-")
    document = ssm.get_document(Name=name, DocumentFormat="YAML")
    assert (document["DocumentType"], document["DocumentFormat"]) == ("Session", "YAML")
    assert yaml.safe_load(document["Content"])["properties"] == {"portNumber": "22"}
    tags = ssm.list_tags_for_resource(ResourceType="Document", ResourceId=name)["TagList"]
    assert tags == [{"Key": "team", "Value": "platform"}]

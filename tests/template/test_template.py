"""template.yaml: lint-clean, wired to real handlers, ASL files and settings, least privilege."""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from bastion.local.deploy import load_template
from tasks.common.bastion_started import BASTION_LOG_STREAM_PREFIX

pytestmark = pytest.mark.template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
SETTINGS_SOURCE = ROOT / "tasks" / "common" / "settings.py"

#: The task functions of the stack and the module of each one's handler.
TASK_MODULES = {
    "ValidateRequest": "tasks.validate_request",
    "FindControlPlane": "tasks.find_control_plane",
    "CreateSessionSecurityGroup": "tasks.create_session_security_group",
    "AuthorizeControlPlaneIngress": "tasks.authorize_control_plane_ingress",
    "RunBastionTask": "tasks.run_bastion_task",
    "WaitForBastionAddress": "tasks.wait_for_bastion_address",
    "SignalBastionReady": "tasks.signal_bastion_ready",
    "HoldSession": "tasks.hold_session",
    "ExtendSession": "tasks.extend_session",
    "EndSession": "tasks.end_session",
    "RequestExtension": "tasks.request_extension",
    "StopBastionTask": "tasks.stop_bastion_task",
    "RevokeControlPlaneIngress": "tasks.revoke_control_plane_ingress",
    "DeleteSessionSecurityGroup": "tasks.delete_session_security_group",
    "DeleteHoldParameter": "tasks.delete_hold_parameter",
    "FindOrphanedSessions": "tasks.find_orphaned_sessions",
    # The session API's function (tests/template/test_api_template.py checks the API).
    "Api": "tasks.api",
}
TEARDOWN_TASKS = {
    "StopBastionTask",
    "RevokeControlPlaneIngress",
    "DeleteSessionSecurityGroup",
    "DeleteHoldParameter",
}
#: state machine logical id → the tasks it invokes
MACHINE_TASKS = {
    "SessionStateMachine": set(TASK_MODULES)
    - {"EndSession", "Api", "FindOrphanedSessions", "RequestExtension", "SignalBastionReady"},
    "TeardownStateMachine": TEARDOWN_TASKS,
    "SweeperStateMachine": TEARDOWN_TASKS | {"FindOrphanedSessions"},
}
PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
FAKE_ACCOUNT = "123456789012"


@cache
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


def resources(kind: str) -> dict[str, dict[str, Any]]:
    return {lid: res for lid, res in template()["Resources"].items() if res["Type"] == kind}


def functions() -> dict[str, dict[str, Any]]:
    return resources("AWS::Serverless::Function")


def statements(function_id: str) -> list[dict[str, Any]]:
    """The function's statements; one that exists only under a condition (``Fn::If`` with
    ``AWS::NoValue``) as the statement it would be."""
    policies = functions()[function_id]["Properties"]["Policies"]
    return [
        branch
        for policy in policies
        for statement in policy.get("Statement", [])
        for branch in if_branches(statement)
    ]


def if_branches(item: Any) -> list[Any]:
    """``item``, or the branches of an ``Fn::If`` that are not ``AWS::NoValue``."""
    if isinstance(item, dict) and set(item) == {"Fn::If"}:
        _, when_true, when_false = item["Fn::If"]
        return [b for b in (when_true, when_false) if b != {"Ref": "AWS::NoValue"}]
    return [item]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def cfn_lint(text: str) -> list[str]:
    from cfnlint.api import lint
    from cfnlint.config import ManualArgs

    matches = lint(text, config=ManualArgs(regions=["us-east-1"]))
    return [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches]


# ----------------------------------------------------------------------- cfn-lint


def test_cfn_lint_finds_nothing() -> None:
    # cfn-lint runs the SAM transform itself; warnings count as failures too.
    from cfnlint.api import lint_file

    matches = lint_file(TEMPLATE)
    assert [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches] == []


def test_cfn_lint_is_not_vacuous() -> None:
    # GIVEN a Fargate task definition whose memory does not fit its CPU
    broken = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "Task": {
                "Type": "AWS::ECS::TaskDefinition",
                "Properties": {
                    "RequiresCompatibilities": ["FARGATE"],
                    "NetworkMode": "awsvpc",
                    "Cpu": "256",
                    "Memory": "4096",
                    "ContainerDefinitions": [{"Name": "c", "Image": "i"}],
                },
            }
        },
    }
    # THEN the same linter reports it
    assert any(problem.startswith("E3047") for problem in cfn_lint(json.dumps(broken)))


# ----------------------------------------------------------------------- functions


def test_one_function_per_task() -> None:
    assert set(functions()) == {f"{task}Function" for task in TASK_MODULES}


@pytest.mark.parametrize("task", sorted(TASK_MODULES))
def test_handler_is_a_real_callable(task: str) -> None:
    props = functions()[f"{task}Function"]["Properties"]
    module_name, _, attribute = props["Handler"].rpartition(".")
    assert (module_name, attribute) == (TASK_MODULES[task], "handler")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        pytest.fail(f"{task}Function: handler module {module_name} cannot be imported: {error}")
    assert callable(getattr(module, attribute, None)), f"{module_name} has no callable handler"


@pytest.mark.parametrize("task", sorted(TASK_MODULES))
def test_function_is_built_by_the_makefile(task: str) -> None:
    function = functions()[f"{task}Function"]
    assert function["Properties"]["CodeUri"] == "."
    assert function["Metadata"]["BuildMethod"] == "makefile"


@pytest.mark.parametrize("task", sorted(TASK_MODULES))
def test_function_has_its_own_log_group_with_retention(task: str) -> None:
    log_group = template()["Resources"][f"{task}LogGroup"]
    assert log_group["Type"] == "AWS::Logs::LogGroup"
    props = log_group["Properties"]
    assert props["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{{task}Function}}"}
    assert props["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_every_log_group_has_retention() -> None:
    for logical_id, log_group in resources("AWS::Logs::LogGroup").items():
        assert log_group["Properties"].get("RetentionInDays"), logical_id


def test_function_globals() -> None:
    function_globals = template()["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.13"
    assert function_globals["Architectures"] == ["arm64"]
    assert function_globals["Timeout"] == 30
    assert function_globals["MemorySize"] == 256
    assert function_globals["Tracing"] == "Active"
    assert function_globals["Layers"], "the Powertools layer"


# ----------------------------------------------------------------------- settings


class RecordingEnvironment(Mapping[str, str]):
    """An empty environment that remembers every name asked for."""

    def __init__(self) -> None:
        self.asked: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return default

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def settings_names_in_source() -> set[str]:
    source = SETTINGS_SOURCE.read_text(encoding="utf-8")
    direct = re.findall(r'env\.get\(\s*"([A-Z][A-Z0-9_]*)"', source)
    helpers = re.findall(r'_[a-z]+\(\s*env,\s*"([A-Z][A-Z0-9_]*)"', source)
    return set(direct) | set(helpers)


def test_globals_set_exactly_the_variables_settings_read() -> None:
    from tasks.common.settings import Settings

    # GIVEN the names the settings parser reads: asked at run time and named in source
    environment = RecordingEnvironment()
    Settings.from_environ(environment)
    assert environment.asked == settings_names_in_source()
    # THEN the template sets each of them, and nothing else but Powertools' own: in
    # Globals, or on the one function that needs it (the API's state machine ARN, ...)
    variables = template()["Globals"]["Function"]["Environment"]["Variables"]
    ours = {name for name in variables if not name.startswith("POWERTOOLS_")}
    own = {
        name
        for function in functions().values()
        for name in function["Properties"].get("Environment", {}).get("Variables", {})
    }
    assert ours & own == set(), "set both in Globals and on a function"
    assert ours | own == environment.asked
    assert variables["POWERTOOLS_SERVICE_NAME"] == "fargate-bastion"
    assert variables["POWERTOOLS_LOG_LEVEL"] == {"Ref": "LogLevel"}


def test_session_parameter_policies_use_the_settings_prefix() -> None:
    from tasks.common.settings import session_parameter_prefix

    variables = template()["Globals"]["Function"]["Environment"]["Variables"]
    # The prefix lies under the stack's own name, as the settings derive it.
    assert variables["STACK_NAME"] == {"Ref": "AWS::StackName"}
    prefix = variables["SESSION_PARAMETER_PREFIX"]["Fn::Sub"]
    assert prefix == session_parameter_prefix("${AWS::StackName}")
    # Every SSM parameter ARN the policies grant lies under that prefix.
    arns = re.findall(r":parameter(/[^\s\"']*)", TEMPLATE.read_text(encoding="utf-8"))
    assert arns
    assert all(arn == prefix or arn.startswith(prefix + "/") for arn in arns), arns


# ----------------------------------------------------------------------- state machines


def definition_file(machine_id: str) -> Path:
    return ROOT / template()["Resources"][machine_id]["Properties"]["DefinitionUri"]


def test_state_machines_are_the_expected_ones() -> None:
    assert set(resources("AWS::Serverless::StateMachine")) == set(MACHINE_TASKS)


@pytest.mark.parametrize("machine_id", sorted(MACHINE_TASKS))
def test_placeholders_match_substitutions_both_ways(machine_id: str) -> None:
    props = template()["Resources"][machine_id]["Properties"]
    placeholders = set(PLACEHOLDER.findall(definition_file(machine_id).read_text("utf-8")))
    substitutions = set(props["DefinitionSubstitutions"])
    assert placeholders - substitutions == set(), "placeholders without a substitution"
    assert substitutions - placeholders == set(), "substitutions no placeholder uses"


@pytest.mark.parametrize("machine_id", sorted(MACHINE_TASKS))
def test_machine_invokes_exactly_its_functions(machine_id: str) -> None:
    props = template()["Resources"][machine_id]["Properties"]
    tasks = MACHINE_TASKS[machine_id]
    # Each placeholder <Task>FunctionArn is that task's function ARN ...
    assert props["DefinitionSubstitutions"] == {
        f"{task}FunctionArn": {"Fn::GetAtt": [f"{task}Function", "Arn"]} for task in tasks
    }
    # ... and the machine's role may invoke exactly those functions.
    invokable = [
        policy["LambdaInvokePolicy"]["FunctionName"]
        for policy in props["Policies"]
        if "LambdaInvokePolicy" in policy
    ]
    assert sorted(invokable, key=str) == sorted(
        ({"Ref": f"{task}Function"} for task in tasks), key=str
    )


@pytest.mark.parametrize("machine_id", sorted(MACHINE_TASKS))
def test_machine_logs_and_traces_without_execution_data(machine_id: str) -> None:
    props = template()["Resources"][machine_id]["Properties"]
    assert props["Type"] == "STANDARD"
    assert props["Logging"]["Level"] in ("ERROR", "ALL")
    assert props["Logging"]["IncludeExecutionData"] is False
    assert props["Tracing"] == {"Enabled": True}


def wrapped_in_raw_state_machine(definition: dict[str, Any]) -> str:
    """A plain CloudFormation template holding ``definition``, with each placeholder
    replaced by a function ARN as DefinitionSubstitutions would at deploy time."""
    text = PLACEHOLDER.sub(
        lambda m: f"arn:aws:lambda:us-east-1:{FAKE_ACCOUNT}:function:{m.group(1)}",
        json.dumps(definition),
    )
    return json.dumps(
        {
            "AWSTemplateFormatVersion": "2010-09-09",
            "Resources": {
                "Machine": {
                    "Type": "AWS::StepFunctions::StateMachine",
                    "Properties": {
                        "RoleArn": f"arn:aws:iam::{FAKE_ACCOUNT}:role/machine",
                        "Definition": json.loads(text),
                    },
                }
            },
        }
    )


@pytest.mark.parametrize("machine_id", sorted(MACHINE_TASKS))
def test_rendered_asl_passes_the_state_machine_schema(machine_id: str) -> None:
    # cfn-lint never reads DefinitionUri: check the ASL as a raw resource's Definition.
    definition = json.loads(definition_file(machine_id).read_text("utf-8"))
    assert cfn_lint(wrapped_in_raw_state_machine(definition)) == []


def test_state_machine_schema_check_is_not_vacuous() -> None:
    broken = {"StartAt": "A", "States": {"A": {"Type": "Taskk", "End": True}}}
    problems = cfn_lint(wrapped_in_raw_state_machine(broken))
    assert any(problem.startswith("E3601") for problem in problems), problems


# ----------------------------------------------------------------------- least privilege

EC2_MUTATIONS = {
    "ec2:CreateSecurityGroup",
    "ec2:DeleteSecurityGroup",
    "ec2:AuthorizeSecurityGroupIngress",
    "ec2:AuthorizeSecurityGroupEgress",
    "ec2:RevokeSecurityGroupIngress",
    "ec2:RevokeSecurityGroupEgress",
}


def resource_text(statement: dict[str, Any]) -> list[str]:
    return [json.dumps(resource) for resource in as_list(statement["Resource"])]


def test_no_wildcard_actions() -> None:
    for function_id in functions():
        for statement in statements(function_id):
            for action in as_list(statement["Action"]):
                assert "*" not in action, f"{function_id}: {action}"


@pytest.mark.parametrize("task", sorted(TASK_MODULES))
def test_security_group_mutations_are_conditioned(task: str) -> None:
    for statement in statements(f"{task}Function"):
        actions = set(as_list(statement["Action"]))
        on_groups = any(":security-group/" in text for text in resource_text(statement))
        if actions & EC2_MUTATIONS and on_groups:
            # Only this stack's session groups, or the allowed clusters' control-plane groups
            # (the cluster security group, or an additional group marked for bastions).
            condition = statement.get("Condition", {})
            stack_scoped = condition.get("StringEquals", {})
            cluster_scoped = condition.get("StringLike", {})
            allowed = {"Fn::Split": [",", {"Ref": "AllowedClusters"}]}
            assert any(
                key.endswith("Tag/fargate-bastion:stack") and value == STACK_NAME
                for key, value in stack_scoped.items()
            ) or any(
                key
                in (
                    "aws:ResourceTag/aws:eks:cluster-name",
                    "aws:ResourceTag/fargate-bastion:control-plane",
                )
                and value == allowed
                for key, value in cluster_scoped.items()
            ), f"{task}: {statement}"
        if actions & EC2_MUTATIONS:
            assert '"*"' not in resource_text(statement), f"{task}: EC2 mutation on *"
        if "ec2:CreateTags" in actions:
            # Tags only in the call that creates the group or rule.
            assert "ec2:CreateAction" in statement["Condition"]["StringEquals"], task


STACK_NAME = {"Ref": "AWS::StackName"}


def test_pass_role_only_for_the_task_roles() -> None:
    passing = [
        (function_id, statement)
        for function_id in functions()
        for statement in statements(function_id)
        if "iam:PassRole" in as_list(statement["Action"])
    ]
    assert [function_id for function_id, _ in passing] == ["RunBastionTaskFunction"]
    statement = passing[0][1]
    # The public and the private bastion's roles where AccessModes allows their mode.
    assert [branch for item in statement["Resource"] for branch in if_branches(item)] == [
        {"Fn::GetAtt": ["BastionTaskRole", "Arn"]},
        {"Fn::GetAtt": ["BastionExecutionRole", "Arn"]},
        {"Fn::GetAtt": ["PrivateBastionTaskRole", "Arn"]},
    ]


def test_run_task_is_scoped_to_the_cluster_and_task_definition() -> None:
    # tests/template/test_private_mode.py checks which of them may run with ECS Exec.
    running = [s for s in statements("RunBastionTaskFunction") if s["Action"] == "ecs:RunTask"]
    assert [statement["Resource"] for statement in running] == [
        {"Ref": "BastionTaskDefinition"},
        {"Ref": "PrivateBastionTaskDefinition"},
    ]
    for statement in running:
        assert statement["Condition"]["ArnEquals"] == {
            "ecs:cluster": {"Fn::GetAtt": ["BastionCluster", "Arn"]}
        }


def test_end_session_signals_only_the_session_machine() -> None:
    (statement,) = [
        s for s in statements("EndSessionFunction") if s["Action"] == "states:SendTaskSuccess"
    ]
    session_name = template()["Resources"]["SessionStateMachine"]["Properties"]["Name"]
    assert session_name == {"Fn::Sub": "${AWS::StackName}-session"}
    assert statement["Resource"]["Fn::Sub"].endswith(":stateMachine:${AWS::StackName}-session")


def test_the_ready_check_reads_only_the_bastions_streams() -> None:
    # GIVEN the function that reads the bastion's started line
    function = functions()["WaitForBastionAddressFunction"]
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables == {"BASTION_LOG_GROUP": {"Ref": "BastionLogGroup"}}
    # THEN it may read the bastion containers' streams of the stack's bastion group, and no
    # other logs: no FilterLogEvents across the group, no other group, nothing written
    granted = [s for s in statements("WaitForBastionAddressFunction") if "logs:" in str(s)]
    assert granted == [
        {
            "Effect": "Allow",
            "Action": "logs:GetLogEvents",
            "Resource": {
                "Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}"
                ":log-group:${BastionLogGroup}:log-stream:"
                f"{BASTION_LOG_STREAM_PREFIX}/bastion/*"
            },
        }
    ]


def test_an_extension_is_signalled_only_by_reading_a_token_and_failing_the_hold() -> None:
    # RequestExtension reads the stack's hold parameters and sends SendTaskFailure to the
    # session machine's tasks: nothing else (least privilege for the extension signal)
    granted = {
        action: statement["Resource"]["Fn::Sub"]
        for statement in statements("RequestExtensionFunction")
        for action in as_list(statement["Action"])
    }
    assert set(granted) == {"ssm:GetParameter", "states:SendTaskFailure"}
    assert granted["ssm:GetParameter"].endswith(
        ":parameter/fargate-bastion/${AWS::StackName}/sessions/*"
    )
    assert granted["states:SendTaskFailure"].endswith(":stateMachine:${AWS::StackName}-session")
    # ExtendSession calls no AWS API at all: its role has the Lambda basics only
    assert functions()["ExtendSessionFunction"]["Properties"]["Policies"] == []


# ----------------------------------------------------------------------- the bastion task


def test_task_definition_is_a_small_arm_fargate_task() -> None:
    props = template()["Resources"]["BastionTaskDefinition"]["Properties"]
    assert props["RequiresCompatibilities"] == ["FARGATE"]
    assert props["NetworkMode"] == "awsvpc"
    assert (props["Cpu"], props["Memory"]) == ("256", "512")
    assert props["RuntimePlatform"] == {
        "CpuArchitecture": "ARM64",
        "OperatingSystemFamily": "LINUX",
    }
    (container,) = props["ContainerDefinitions"]
    variables = template()["Globals"]["Function"]["Environment"]["Variables"]
    assert container["Name"] == variables["BASTION_CONTAINER_NAME"] == "bastion"
    assert container["Essential"] is True
    assert container["PortMappings"] == [{"ContainerPort": 22, "Protocol": "tcp"}]
    assert container["LogConfiguration"]["LogDriver"] == "awslogs"
    # The ready check reads the bastion's started line from the stream this names.
    options = container["LogConfiguration"]["Options"]
    assert options["awslogs-stream-prefix"] == BASTION_LOG_STREAM_PREFIX
    assert options["awslogs-group"] == {"Ref": "BastionLogGroup"}
    assert "Secrets" not in container and "Environment" not in container
    assert template()["Parameters"]["BastionMode"]["Default"] == "tunnel"
    assert props["TaskRoleArn"] == {"Fn::GetAtt": ["BastionTaskRole", "Arn"]}
    assert props["ExecutionRoleArn"] == {"Fn::GetAtt": ["BastionExecutionRole", "Arn"]}


def test_the_bastion_container_is_unprivileged_and_read_only() -> None:
    props = template()["Resources"]["BastionTaskDefinition"]["Properties"]
    (container,) = props["ContainerDefinitions"]
    assert container["User"] == "10001"
    assert container["ReadonlyRootFilesystem"] is True
    # Every capability dropped: sshd binds 22 unprivileged in the task's own namespace.
    assert container["LinuxParameters"]["Capabilities"] == {"Drop": ["ALL"]}
    assert "Add" not in container["LinuxParameters"]["Capabilities"]
    # The entry point is the first process, which a shell of its own user cannot stop.
    assert container["LinuxParameters"]["InitProcessEnabled"] is False
    assert container["SystemControls"] == [
        {"Namespace": "net.ipv4.ip_unprivileged_port_start", "Value": "22"}
    ]
    # The only writable places: the runtime directory, the home directory and /tmp.
    volumes = {volume["Name"] for volume in props["Volumes"]}
    assert all(set(volume) == {"Name"} for volume in props["Volumes"]), "task storage only"
    mounts = {mount["ContainerPath"]: mount["SourceVolume"] for mount in container["MountPoints"]}
    assert mounts == {"/run/bastion": "runtime", "/home/bastion": "home", "/tmp": "tmp"}
    assert set(mounts.values()) == volumes


# ----------------------------------------------------------------------- parameters


def test_parameters_and_defaults() -> None:
    parameters = template()["Parameters"]
    assert parameters["BastionSubnetIds"]["Type"] == "List<AWS::EC2::Subnet::Id>"
    assert parameters["AssignPublicIp"]["AllowedValues"] == ["ENABLED", "DISABLED"]
    defaults = {name: spec.get("Default") for name, spec in parameters.items()}
    assert defaults["DefaultDurationMinutes"] == 60
    assert defaults["MaxDurationMinutes"] == 480
    assert defaults["IdleTimeoutMinutes"] == 30
    assert defaults["WidestIpv4Prefix"] == 24
    ipv4 = parameters["WidestIpv4Prefix"]
    assert (ipv4["MinValue"], ipv4["MaxValue"]) == (8, 32)
    assert defaults["WidestIpv6Prefix"] == 64
    assert "AllowedClusters" not in {name for name, value in defaults.items() if value is not None}
    assert 30 in parameters["LogRetentionDays"]["AllowedValues"]
    assert "BastionImageUri" in parameters and "PowertoolsLayerArn" in parameters

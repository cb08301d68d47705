"""template.yaml's session API: AWS_IAM on every method, least privilege, logs and outputs."""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from bastion.local.deploy import load_template

pytestmark = pytest.mark.template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
ROUTES = {
    ("post", "/clusters/{cluster}/sessions"),
    ("get", "/clusters/{cluster}/sessions"),
    ("get", "/clusters/{cluster}/sessions/{id}"),
    ("delete", "/clusters/{cluster}/sessions/{id}"),
    ("get", "/clusters/{cluster}/sessions/{id}/resources"),
    ("post", "/clusters/{cluster}/sessions/{id}/extensions"),
    ("get", "/sessions"),
}
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}
SESSION_MACHINE = (
    "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:"
    "${AWS::StackName}-session"
)
SESSION_EXECUTIONS = (
    "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:"
    "${AWS::StackName}-session:*"
)


@cache
def sam() -> dict[str, Any]:
    return load_template(TEMPLATE)


def translate(template: dict[str, Any]) -> dict[str, Any]:
    """The CloudFormation SAM makes of ``template`` (local artifacts stubbed out)."""
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    template = copy.deepcopy(template)
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            props.pop("CodeUri", None)
            props["InlineCode"] = "# stub"
        elif resource["Type"] == "AWS::Serverless::StateMachine":
            props.pop("DefinitionUri", None)
            props["Definition"] = {"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}
    translator = Translator(None, Parser(), boto_session=boto3.Session(region_name="us-east-1"))
    try:
        return translator.translate(  # type: ignore[no-any-return]
            template,
            parameter_values={"BastionSubnetIds": "subnet-0123456789abcdef0"},
            get_managed_policy_map=lambda: {},
        )
    finally:
        translator.metrics.publish()


@cache
def translated() -> dict[str, Any]:
    return translate(sam())


def api_operations(cfn: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Every operation of every REST API: (api logical id, method, path) → operation."""
    operations = {}
    for logical_id, resource in cfn["Resources"].items():
        if resource["Type"] != "AWS::ApiGateway::RestApi":
            continue
        body = resource["Properties"]["Body"]
        for path, methods in body["paths"].items():
            for method, operation in methods.items():
                operations[(logical_id, method, path)] = operation
    return operations


def unsigned_operations(cfn: dict[str, Any]) -> list[str]:
    """The operations a caller can reach without a SigV4 signature (AWS_IAM)."""
    found = []
    for (api_id, method, path), operation in api_operations(cfn).items():
        body = cfn["Resources"][api_id]["Properties"]["Body"]
        schemes = {
            **body.get("securityDefinitions", {}),
            **body.get("components", {}).get("securitySchemes", {}),
        }
        requirements = operation.get("security", body.get("security")) or []
        names = [name for requirement in requirements for name in requirement]
        signed = bool(names) and all(
            schemes.get(name, {}).get("x-amazon-apigateway-authtype") == "awsSigv4"
            for name in names
        )
        if method not in HTTP_METHODS and method != "x-amazon-apigateway-any-method":
            continue
        if not signed:
            found.append(f"{api_id} {method.upper()} {path}")
    return found


def api_function() -> dict[str, Any]:
    function: dict[str, Any] = sam()["Resources"]["ApiFunction"]
    return function


def statements() -> list[dict[str, Any]]:
    return [s for policy in api_function()["Properties"]["Policies"] for s in policy["Statement"]]


# ----------------------------------------------------------------------- authorization


def test_the_api_has_exactly_its_seven_routes() -> None:
    operations = api_operations(translated())
    assert {(method, path) for _, method, path in operations} == ROUTES
    # ... all on the one API: no implicit (and unauthenticated) ServerlessRestApi
    assert {api_id for api_id, _, _ in operations} == {"BastionApi"}
    assert "ServerlessRestApi" not in translated()["Resources"]


def test_every_api_method_requires_aws_iam() -> None:
    assert api_operations(translated()), "no API methods found"
    assert unsigned_operations(translated()) == []


def test_the_authorization_check_is_not_vacuous() -> None:
    # GIVEN a route that opts out of the default authorizer
    template = copy.deepcopy(sam())
    events = template["Resources"]["ApiFunction"]["Properties"]["Events"]
    events["GetSession"]["Properties"]["Auth"] = {"Authorizer": "NONE"}
    # THEN the check names it
    assert unsigned_operations(translate(template)) == [
        "BastionApi GET /clusters/{cluster}/sessions/{id}"
    ]


def test_iam_auth_is_the_api_default_and_the_function_is_invoked_by_api_gateway() -> None:
    auth = sam()["Resources"]["BastionApi"]["Properties"]["Auth"]
    assert auth["DefaultAuthorizer"] == "AWS_IAM"
    # Not the caller's credentials: callers need execute-api:Invoke, not lambda:InvokeFunction.
    assert auth["InvokeRole"] == "NONE"
    for operation in api_operations(translated()).values():
        integration = operation["x-amazon-apigateway-integration"]
        assert integration["type"] == "aws_proxy"
        assert "credentials" not in integration
        assert "${ApiFunction.Arn}" in integration["uri"]["Fn::Sub"]
    permissions = [
        resource["Properties"]
        for resource in translated()["Resources"].values()
        if resource["Type"] == "AWS::Lambda::Permission"
        and resource["Properties"]["Principal"] == "apigateway.amazonaws.com"
    ]
    # One per route, for the API function only, and only from this API's routes.
    assert len(permissions) == len(ROUTES)
    for permission in permissions:
        assert permission["FunctionName"] == {"Ref": "ApiFunction"}
        source, values = permission["SourceArn"]["Fn::Sub"]
        assert source.startswith(
            "arn:aws:execute-api:${AWS::Region}:${AWS::AccountId}:${__ApiId__}"
        )
        assert values["__ApiId__"] == {"Ref": "BastionApi"}


def test_no_event_of_any_function_overrides_the_authorizer() -> None:
    for logical_id, resource in sam()["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for name, event in resource["Properties"].get("Events", {}).items():
            if event["Type"] == "Api":
                assert event["Properties"]["RestApiId"] == {"Ref": "BastionApi"}, name
                assert "Auth" not in event["Properties"], f"{logical_id}.{name}"


# ----------------------------------------------------------------------- stage


def test_the_stage_logs_access_with_retention_and_traces() -> None:
    props = sam()["Resources"]["BastionApi"]["Properties"]
    assert props["StageName"] == "v1"
    assert props["TracingEnabled"] is True
    access_log = props["AccessLogSetting"]
    assert access_log["DestinationArn"] == {"Fn::GetAtt": ["BastionApiAccessLogGroup", "Arn"]}
    record = json.loads(access_log["Format"])
    assert record["caller"] == "$context.identity.userArn"
    assert record["sourceIp"] == "$context.identity.sourceIp"
    log_group = sam()["Resources"]["BastionApiAccessLogGroup"]["Properties"]
    assert log_group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    stages = [
        resource
        for resource in translated()["Resources"].values()
        if resource["Type"] == "AWS::ApiGateway::Stage"
    ]
    # One stage: no stray "Stage" stage next to v1.
    assert [stage["Properties"]["StageName"] for stage in stages] == ["v1"]


# ----------------------------------------------------------------------- the function


def test_the_function_gets_the_machine_its_two_signals_admins_and_the_bastion_log_group() -> None:
    variables = api_function()["Properties"]["Environment"]["Variables"]
    assert variables == {
        "SESSION_STATE_MACHINE_ARN": {"Fn::Sub": SESSION_MACHINE},
        "END_SESSION_FUNCTION_NAME": {"Ref": "EndSessionFunction"},
        "REQUEST_EXTENSION_FUNCTION_NAME": {"Ref": "RequestExtensionFunction"},
        "ADMIN_PRINCIPAL_ARNS": {"Ref": "AdminPrincipalArns"},
        "BASTION_LOG_GROUP": {"Ref": "BastionLogGroup"},
    }
    # The Sub names the machine as it is named: no GetAtt, so no dependency cycle.
    machine_name = sam()["Resources"]["SessionStateMachine"]["Properties"]["Name"]
    assert SESSION_MACHINE.endswith(":stateMachine:" + machine_name["Fn::Sub"])


def test_the_function_may_do_exactly_what_the_api_does() -> None:
    granted = {
        action: statement["Resource"]
        for statement in statements()
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
    }
    assert granted == {
        "states:StartExecution": {"Fn::Sub": SESSION_MACHINE},
        "states:ListExecutions": {"Fn::Sub": SESSION_MACHINE},
        "states:DescribeExecution": {"Fn::Sub": SESSION_EXECUTIONS},
        "states:GetExecutionHistory": {"Fn::Sub": SESSION_EXECUTIONS},
        "states:StopExecution": {"Fn::Sub": SESSION_EXECUTIONS},
        "lambda:InvokeFunction": [
            {"Fn::GetAtt": ["EndSessionFunction", "Arn"]},
            {"Fn::GetAtt": ["RequestExtensionFunction", "Arn"]},
        ],
        "eks:DescribeCluster": {
            "Fn::Sub": "arn:${AWS::Partition}:eks:${AWS::Region}:${AWS::AccountId}:cluster/*"
        },
        # A session's resources, read as teardown finds them: EC2 describes take "*" only.
        "ec2:DescribeSecurityGroups": "*",
        "ec2:DescribeSecurityGroupRules": "*",
        "ecs:ListTasks": "*",
        "ecs:DescribeTasks": {
            "Fn::Sub": "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:task/"
            "${BastionCluster}/*"
        },
        "ssm:ListTagsForResource": {
            "Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter"
            "/fargate-bastion/${AWS::StackName}/sessions/*"
        },
    }
    assert all(statement["Effect"] == "Allow" for statement in statements())
    # ListTasks, on "*" by necessity, only in the stack's own ECS cluster
    (list_tasks,) = [s for s in statements() if s["Action"] == "ecs:ListTasks"]
    assert list_tasks["Condition"] == {
        "ArnEquals": {"ecs:cluster": {"Fn::GetAtt": ["BastionCluster", "Arn"]}}
    }


def test_every_call_the_api_makes_is_granted() -> None:
    # The client calls of the API's modules, as IAM actions, are all in the policy above.
    common = ("session_caps", "session_resources", "security_groups", "bastion_tasks")
    modules = [
        *sorted((ROOT / "tasks").glob("api*.py")),
        *(ROOT / f"tasks/common/{name}.py" for name in common),
    ]
    source = "\n".join(path.read_text(encoding="utf-8") for path in modules)
    clients = r"\b(sfn|lambda_client|eks|ec2|ecs|ssm)\."
    calls = set(re.findall(clients + r"(\w+)\(", source))
    calls |= set(re.findall(clients + r'get_paginator\("(\w+)"\)', source))
    calls = {(client, name) for client, name in calls if name != "get_paginator"}
    service = {"sfn": "states", "lambda_client": "lambda"}
    actions = {
        f"{service.get(client, client)}:{''.join(part.title() for part in name.split('_'))}"
        for client, name in calls
    }
    actions = {"lambda:InvokeFunction" if a == "lambda:Invoke" else a for a in actions}
    # check_cluster_reachable (shared with ValidateRequest) makes the eks call
    actions.add("eks:DescribeCluster")
    granted = {
        action
        for statement in statements()
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
    }
    assert actions <= granted, actions - granted
    assert len(actions) >= 11, actions


# ----------------------------------------------------------------------- admins and output


ADMIN_EXAMPLES = [
    "arn:aws:iam::123456789012:role/ops/BastionAdmin",
    "arn:aws:iam::123456789012:user/alice",
    "arn:aws:sts::123456789012:assumed-role/Ops/carol",
    "arn:aws-us-gov:iam::123456789012:role/BastionAdmin",
]


def test_admin_principals_default_to_nobody_and_the_pattern_agrees_with_the_settings() -> None:
    from tasks.common.settings import Settings

    parameter = sam()["Parameters"]["AdminPrincipalArns"]
    assert parameter["Default"] == ""
    pattern = re.compile(parameter["AllowedPattern"])
    assert pattern.fullmatch("")
    assert pattern.fullmatch(",".join(ADMIN_EXAMPLES))
    assert Settings.from_environ(
        {"ADMIN_PRINCIPAL_ARNS": ",".join(ADMIN_EXAMPLES)}
    ).admin_principal_arns == tuple(ADMIN_EXAMPLES)
    for bad in ("*", "alice", "arn:aws:iam::123:user/alice", ADMIN_EXAMPLES[0] + ","):
        assert not pattern.fullmatch(bad), bad


def test_the_api_url_is_an_output() -> None:
    output = sam()["Outputs"]["ApiUrl"]["Value"]["Fn::Sub"]
    assert output == (
        "https://${BastionApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${BastionApi.Stage}"
    )


# ----------------------------------------------------------------------- who may open which door


def parameter(name: str) -> dict[str, Any]:
    spec: dict[str, Any] = sam()["Parameters"][name]
    return spec


def test_allowed_clusters_has_no_default_and_star_is_the_only_way_to_say_all() -> None:
    spec = parameter("AllowedClusters")
    # No default: a deploy must choose, and an empty value is refused by CloudFormation.
    assert "Default" not in spec
    pattern = re.compile(spec["AllowedPattern"])
    for good in ("*", "payments", "payments,ledger", "a_b-1,C2"):
        assert pattern.fullmatch(good), good
    for bad in ("", " ", "payments,", "*,payments", "payments,*", "pay*", "**", "-x", "a b"):
        assert not pattern.fullmatch(bad), bad
    assert spec["MinLength"] == 1


def test_the_api_resource_policy_names_who_may_call_and_has_no_default() -> None:
    spec = parameter("ApiAllowedPrincipals")
    assert "Default" not in spec
    pattern = re.compile(spec["AllowedPattern"])
    for good in (
        "*",
        "arn:aws:iam::123456789012:role/platform-*",
        "arn:aws:iam::123456789012:role/ops/BastionUser,arn:aws:iam::123456789012:user/alice",
    ):
        assert pattern.fullmatch(good), good
    for bad in ("", "**", "arn:aws:iam::123456789012:role/a,*", "123456789012", "alice"):
        assert not pattern.fullmatch(bad), bad
    organization = parameter("ApiAllowedOrganizationId")
    assert organization["Default"] == ""
    assert re.fullmatch(organization["AllowedPattern"], "o-a1b2c3d4e5")
    assert not re.fullmatch(organization["AllowedPattern"], "o-*")


def resource_policy(cfn: dict[str, Any]) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = cfn["Resources"]["BastionApi"]["Properties"]["Body"][
        "x-amazon-apigateway-policy"
    ]["Statement"]
    return statements


def test_the_resource_policy_denies_unnamed_principals_and_admits_the_organization() -> None:
    # SAM puts the statements into the API's definition (resolving what it can).
    assert len(resource_policy(translated())) == 3
    auth = sam()["Resources"]["BastionApi"]["Properties"]["Auth"]
    allow_account, organization, deny_unnamed = auth["ResourcePolicy"]["CustomStatements"]
    # This account's principals, as their identity policies allow them.
    assert allow_account["Effect"] == "Allow"
    assert allow_account["Principal"]["AWS"]["Fn::Sub"].endswith(":iam::${AWS::AccountId}:root")
    # Other accounts of the organization, when one is named (never this account: its
    # principals stay bound to the routes their identity policies grant).
    condition, allowed, absent = organization["Fn::If"]
    assert condition == "AllowApiOrganization" and absent == {"Ref": "AWS::NoValue"}
    assert allowed["Effect"] == "Allow"
    assert allowed["Condition"]["StringEquals"] == {
        "aws:PrincipalOrgID": {"Ref": "ApiAllowedOrganizationId"}
    }
    assert allowed["Condition"]["StringNotEquals"] == {
        "aws:PrincipalAccount": {"Ref": "AWS::AccountId"}
    }
    # Everyone not named is denied, whatever their identity policies say.
    condition, denied, absent = deny_unnamed["Fn::If"]
    assert condition == "NameApiPrincipals" and absent == {"Ref": "AWS::NoValue"}
    assert (denied["Effect"], denied["Principal"], denied["Action"]) == (
        "Deny",
        "*",
        "execute-api:Invoke",
    )
    assert denied["Condition"]["ArnNotLike"]["aws:PrincipalArn"] == {
        "Fn::Split": [",", {"Ref": "ApiAllowedPrincipals"}]
    }
    conditions = sam()["Conditions"]
    assert conditions["NameApiPrincipals"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ApiAllowedPrincipals"}, "*"]}]
    }


# ----------------------------------------------------------------------- caps


def test_the_caps_are_parameters_with_safe_defaults_below_the_rule_quota() -> None:
    caller, cluster, stack = (
        parameter(f"MaxSessionsPer{name}") for name in ("Caller", "Cluster", "Stack")
    )
    assert (caller["Default"], cluster["Default"], stack["Default"]) == (2, 20, 50)
    # A security group holds 60 inbound rules: neither one caller nor one cluster's
    # sessions can take them all, whatever the operator sets.
    assert caller["MaxValue"] < 60 and cluster["MaxValue"] < 60
    variables = sam()["Globals"]["Function"]["Environment"]["Variables"]
    for name, env in (
        ("MaxSessionsPerCaller", "MAX_SESSIONS_PER_CALLER"),
        ("MaxSessionsPerCluster", "MAX_SESSIONS_PER_CLUSTER"),
        ("MaxSessionsPerStack", "MAX_SESSIONS_PER_STACK"),
    ):
        assert variables[env] == {"Ref": name}
    # ... and the settings accept no more than the template does.
    from tasks.common.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match="MAX_SESSIONS_PER_CLUSTER"):
        Settings.from_environ({"MAX_SESSIONS_PER_CLUSTER": "60"})


def test_validate_request_may_count_the_session_machines_executions_and_nothing_more() -> None:
    function = sam()["Resources"]["ValidateRequestFunction"]["Properties"]
    assert function["Environment"]["Variables"]["SESSION_STATE_MACHINE_ARN"] == {
        "Fn::Sub": SESSION_MACHINE
    }
    granted = {
        (statement["Action"], statement["Resource"]["Fn::Sub"])
        for policy in function["Policies"]
        for statement in policy["Statement"]
    }
    assert ("states:ListExecutions", SESSION_MACHINE) in granted
    assert ("states:DescribeExecution", SESSION_EXECUTIONS) in granted
    assert {action for action, _ in granted} == {
        "eks:DescribeCluster",
        "states:ListExecutions",
        "states:DescribeExecution",
    }

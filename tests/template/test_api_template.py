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
    ("post", "/sessions"),
    ("get", "/sessions"),
    ("get", "/sessions/{id}"),
    ("delete", "/sessions/{id}"),
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


def test_the_api_has_exactly_the_four_routes() -> None:
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
    assert unsigned_operations(translate(template)) == ["BastionApi GET /sessions/{id}"]


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


def test_the_function_gets_the_machine_end_session_and_admins() -> None:
    variables = api_function()["Properties"]["Environment"]["Variables"]
    assert variables == {
        "SESSION_STATE_MACHINE_ARN": {"Fn::Sub": SESSION_MACHINE},
        "END_SESSION_FUNCTION_NAME": {"Ref": "EndSessionFunction"},
        "ADMIN_PRINCIPAL_ARNS": {"Ref": "AdminPrincipalArns"},
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
        "lambda:InvokeFunction": {"Fn::GetAtt": ["EndSessionFunction", "Arn"]},
        "eks:DescribeCluster": {
            "Fn::Sub": "arn:${AWS::Partition}:eks:${AWS::Region}:${AWS::AccountId}:cluster/*"
        },
    }
    assert all(statement["Effect"] == "Allow" for statement in statements())


def test_every_call_the_api_makes_is_granted() -> None:
    # The client calls in tasks/api.py, as IAM actions, are all in the policy above.
    source = (ROOT / "tasks" / "api.py").read_text(encoding="utf-8")
    calls = set(re.findall(r"\b(sfn|lambda_client|eks)\.(\w+)\(", source)) - {
        ("sfn", "get_paginator")
    }
    calls |= {("sfn", name) for name in re.findall(r'get_paginator\("(\w+)"\)', source)}
    service = {"sfn": "states", "lambda_client": "lambda", "eks": "eks"}
    actions = {
        f"{service[client]}:{''.join(part.title() for part in name.split('_'))}"
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
    assert len(actions) >= 6, actions


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

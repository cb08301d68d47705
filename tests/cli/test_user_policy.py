"""A user with docs/deployment.md's policy (``execute-api:Invoke`` on their cluster's routes,
and ``logs:GetLogEvents`` on the bastions' streams) can use every command.

The commands run as on AWS, not with ``--local``: against the local AWS's endpoint (the
session API it serves as API Gateway would, and its CloudWatch Logs), signed with its
credentials. Every request a command makes is recorded, the API's as the route ARN API
Gateway authorizes and any other as its IAM action and resource, and each one is
evaluated against the documented policy (with the API's resource policy).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import botocore.client
import pytest

from bastion import local_daemon
from tests.cli.conftest import Cli, validate
from tests.workflow.execute_api_policy import (
    Policy,
    Principal,
    documented_policy,
    invoke_allowed,
    route_arn,
)

pytestmark = pytest.mark.cli

SESSION_ID = "policy-holder"
#: (IAM action, resource) of every request the commands made.
Requests = list[tuple[str, str]]


@contextlib.contextmanager
def recorded(endpoint: local_daemon.LocalEndpoint, account: str) -> Iterator[Requests]:
    """Record what the command does: each API call as the route API Gateway authorizes,
    each other AWS call as its IAM action on its resource."""
    seen: Requests = []
    api_path = urlsplit(endpoint.api_url).path
    api_id = str(urlsplit(endpoint.outputs["ApiUrl"]).hostname).split(".")[0]
    stage = urlsplit(endpoint.outputs["ApiUrl"]).path.strip("/")
    real_urlopen, real_call = urllib.request.urlopen, botocore.client.BaseClient._make_api_call

    def urlopen(request: urllib.request.Request, *args: Any, **kwargs: Any) -> Any:
        path = urlsplit(request.full_url).path
        assert path.startswith(api_path + "/"), request.full_url
        route = path.removeprefix(api_path)
        arn = route_arn(endpoint.region, account, api_id, stage, request.get_method(), route)
        seen.append(("execute-api:Invoke", arn))
        return real_urlopen(request, *args, **kwargs)

    def call(self: Any, operation: str, params: dict[str, Any]) -> Any:
        service = self.meta.service_model.signing_name
        if (service, operation) == ("sts", "GetCallerIdentity"):
            # STS documents that no permission is needed, and no policy can deny it.
            return real_call(self, operation, params)
        if (service, operation) != ("logs", "GetLogEvents"):
            raise AssertionError(f"a call the policy test does not know: {service}:{operation}")
        stream = f"log-group:{params['logGroupName']}:log-stream:{params['logStreamName']}"
        seen.append(("logs:GetLogEvents", f"arn:aws:logs:{endpoint.region}:{account}:{stream}"))
        return real_call(self, operation, params)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(urllib.request, "urlopen", urlopen)
        patch.setattr(botocore.client.BaseClient, "_make_api_call", call)
        yield seen


@pytest.fixture
def as_on_aws(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The environment of a user on AWS, pointed at the local AWS (endpoint, signing)."""
    endpoint = local_daemon.running(cli.local_dir)
    assert endpoint is not None
    for name in list(os.environ):
        if name.startswith(("AWS_", "BASTION_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", endpoint.credentials.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", endpoint.credentials.secret_access_key)
    monkeypatch.setenv("AWS_REGION", endpoint.region)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint.endpoint_url)
    monkeypatch.setenv("BASTION_API_URL", endpoint.api_url)
    monkeypatch.setenv("BASTION_STATE_DIR", str(tmp_path / "state"))

    def execvp(file: str, argv: list[str]) -> None:
        raise SystemExit(0)  # `bastion ssh` becomes OpenSSH here: the step before is enough

    monkeypatch.setattr(os, "execvp", execvp)
    yield
    cli.run("down", SESSION_ID, "--no-wait")


def _bastion_logs_a_line(cli: Cli, endpoint: local_daemon.LocalEndpoint) -> None:
    """What the awslogs driver does on Fargate: the session's stream, with one line."""
    import boto3

    from bastion.cli import sessions
    from bastion.cli.target import Target

    signed = boto3.Session(region_name=endpoint.region, **endpoint.credentials.for_boto3())
    view = sessions.fetch(Target(session=signed, api_url=endpoint.api_url), "demo", SESSION_ID)
    logs = cli.clients()("logs")
    # The local AWS's awslogs driver may have made the stream already, as on Fargate.
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_stream(logGroupName=view["logGroup"], logStreamName=view["logStream"])
    logs.put_log_events(
        logGroupName=view["logGroup"],
        logStreamName=view["logStream"],
        logEvents=[{"timestamp": int(time.time() * 1000), "message": '{"event":"start"}'}],
    )


def test_every_command_needs_only_the_documented_policy(
    cli: Cli, as_on_aws: None, tmp_path: Path
) -> None:
    endpoint = local_daemon.running(cli.local_dir)
    assert endpoint is not None
    caller = cli.clients()("sts").get_caller_identity()["Arn"]
    account = caller.split(":")[4]
    commands = {
        "up": ["up", "--cluster", "demo", "--session-id", SESSION_ID, "--wait"],
        "status": ["status", SESSION_ID],
        "status (your latest)": ["status"],
        "ls": ["ls"],
        "kubeconfig": ["kubeconfig", SESSION_ID, "--kubeconfig", str(tmp_path / "kubeconfig")],
        "ssh": ["ssh", SESSION_ID],
        "logs": ["logs", SESSION_ID],
        "resources": ["resources", SESSION_ID],
        "extend": ["extend", SESSION_ID, "--by", "5m"],
        "down": ["down", SESSION_ID],
    }
    made: dict[str, Requests] = {}
    printed: dict[str, Any] = {}
    for name, words in commands.items():
        if name == "logs":
            _bastion_logs_a_line(cli, endpoint)
        with recorded(endpoint, account) as requests:
            done = cli.run_here(*words, "--output", "json")
        assert done.returncode == 0, (name, done.stdout, done.stderr)
        made[name], printed[name] = requests, json.loads(done.stdout or "null")
    assert (printed["up"]["status"], printed["down"]["status"]) == ("READY", "ENDED"), printed
    assert '{"event":"start"}' in printed["logs"]["lines"], printed["logs"]
    validate(printed["ls"], "sessionList")
    validate(printed["kubeconfig"], "kubeconfig")
    validate(printed["resources"], "resources")
    assert printed["resources"]["holdParameters"], printed["resources"]
    assert printed["extend"]["expiresAt"] > printed["up"]["expiresAt"], printed["extend"]

    # THEN every request is one the documented policy allows, for the cluster "demo"
    api_id = str(urlsplit(endpoint.outputs["ApiUrl"]).hostname).split(".")[0]
    identity = Policy.parse(
        json.dumps(documented_policy("One cluster per policy"))
        .replace("REGION", endpoint.region)
        .replace("ACCOUNT_ID", account)
        .replace("API_ID", api_id)
        .replace("LOG_GROUP", endpoint.outputs["BastionLogGroupName"])
        .replace("/clusters/payments/", "/clusters/demo/")
    )
    kept = cli.clients()("apigateway").get_rest_api(restApiId=api_id)["policy"]
    resource_policy = Policy.parse(
        kept.replace('\\"', '"'),
        api_prefix=f"arn:aws:execute-api:{endpoint.region}:{account}:{api_id}/",
    )
    user = Principal(caller)

    def allowed(action: str, resource: str) -> bool:
        if action == "execute-api:Invoke":
            return invoke_allowed(user, identity, resource_policy, account, resource)
        matches = identity.matching("Allow", action, resource, user, resource_based=False)
        return any(True for _ in matches)

    for name, requests in made.items():
        assert requests, f"{name} made no request"
        refused = [request for request in requests if not allowed(*request)]
        assert not refused, (name, refused)
    assert "logs:GetLogEvents" in {action for action, _ in made["logs"]}, made["logs"]
    # AND the same requests on another cluster are refused: the check is not vacuous
    elsewhere = made["up"][0][1].replace("/clusters/demo/", "/clusters/ledger/")
    assert not allowed("execute-api:Invoke", elsewhere)

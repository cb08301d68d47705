"""`bastion up` refuses, before anything is created, a caller whose role session is named
anew by every process: its later commands would be another caller, refused by the API."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from bastion.cli import caller
from bastion.cli.app import main
from bastion.cli.errors import CliError, ExitCode

pytestmark = pytest.mark.cli

ACCOUNT = "123456789012"


class FakeSession:
    """A boto3 session whose STS answers GetCallerIdentity with ``arn`` (or raises it)."""

    def __init__(self, arn: str | Exception) -> None:
        self.arn = arn
        self.calls: list[str] = []

    def client(self, service: str) -> Any:
        assert service == "sts"
        return self

    def get_caller_identity(self) -> dict[str, str]:
        self.calls.append("GetCallerIdentity")
        if isinstance(self.arn, Exception):
            raise self.arn
        return {"Arn": self.arn, "Account": ACCOUNT, "UserId": "AIDAEXAMPLE"}


@pytest.mark.parametrize(
    "arn",
    [
        f"arn:aws:iam::{ACCOUNT}:user/alice",
        f"arn:aws:sts::{ACCOUNT}:assumed-role/PlatformAdmin/alice@example.com",
        f"arn:aws:sts::{ACCOUNT}:assumed-role/AWSReservedSSO_Admin_0123456789abcdef/alice",
        f"arn:aws:sts::{ACCOUNT}:assumed-role/PlatformAdmin/botocore-session-alice",
        f"arn:aws-us-gov:sts::{ACCOUNT}:assumed-role/PlatformAdmin/ci-runner-42",
    ],
)
def test_a_caller_with_a_stable_name_is_let_through(arn: str) -> None:
    session = FakeSession(arn)
    caller.require_stable_identity(session, "work")
    assert session.calls == ["GetCallerIdentity"]


@pytest.mark.parametrize("profile", ["work", None])
def test_a_role_session_named_per_process_is_refused_naming_the_setting(
    profile: str | None,
) -> None:
    arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/PlatformAdmin/botocore-session-1733570000"
    with pytest.raises(CliError) as refused:
        caller.require_stable_identity(FakeSession(arn), profile)
    assert refused.value.code == ExitCode.CONFIGURATION
    message = refused.value.message
    assert "assumed-role/PlatformAdmin/botocore-session-1733570000" in message
    assert "role_session_name" in message
    assert ("[profile work]" in message) == (profile == "work")


@pytest.mark.parametrize(
    "problem",
    [
        ClientError(
            {"Error": {"Code": "ExpiredToken", "Message": "The security token has expired"}},
            "GetCallerIdentity",
        ),
        EndpointConnectionError(endpoint_url="https://sts.eu-west-1.amazonaws.com"),
    ],
)
def test_a_caller_aws_cannot_name_is_a_configuration_error(problem: Exception) -> None:
    with pytest.raises(CliError) as failed:
        caller.require_stable_identity(FakeSession(problem), None)
    assert failed.value.code == ExitCode.CONFIGURATION
    assert failed.value.message.startswith("cannot tell who you are: ")


def test_up_refuses_before_it_creates_anything(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a caller whose role session is named per process, and an API nobody may reach
    arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/PlatformAdmin/botocore-session-1733570000"
    session = FakeSession(arn)
    from bastion.cli import api, target

    def resolve(args: Any) -> target.Target:
        return target.Target(session=session, api_url="https://api.example.com/v1")  # type: ignore[arg-type]

    def no_call(*args: Any) -> None:
        raise AssertionError("the API was called")

    monkeypatch.setattr("bastion.cli.app.resolve", resolve)
    monkeypatch.setattr(api, "call", no_call)
    monkeypatch.setenv("BASTION_STATE_DIR", str(tmp_path))
    # WHEN it runs `bastion up`
    code = main(["up", "--cluster", "payments", "--session-id", "alice-1"])
    # THEN it is refused with one line naming the setting, and no session directory exists
    assert code == ExitCode.CONFIGURATION
    assert capsys.readouterr().err.startswith("bastion: your role session is named anew")
    assert not (tmp_path / "sessions" / "alice-1").exists()

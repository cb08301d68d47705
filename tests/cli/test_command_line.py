"""The command line itself: help, exit codes, durations, completion, keys, SigV4, display."""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest

from bastion.cli import api, build_parser, keys
from bastion.cli.app import main, parse_duration
from bastion.cli.display import Progress, Step, steps_of
from bastion.cli.errors import EXIT_CODE_HELP, CliError, ExitCode
from bastion.cli.target import Target
from tests.cli.conftest import validate

pytestmark = pytest.mark.cli


def test_help_documents_examples_the_stack_lookup_and_every_exit_code() -> None:
    text = build_parser().format_help()
    assert "examples:" in text and "bastion up --cluster" in text
    assert "BASTION_STACK" in text and "--profile" in text and "--region" in text
    for code in ExitCode:
        assert f"  {int(code)} " in EXIT_CODE_HELP, code


@pytest.mark.parametrize(
    ("text", "minutes"), [("45", 45), ("30m", 30), ("2h", 120), ("1h30m", 90), ("1h 5m", 65)]
)
def test_durations(text: str, minutes: int) -> None:
    assert parse_duration(text) == minutes


@pytest.mark.parametrize("text", ["", "0m", "h", "1d", "-5", "1.5h"])
def test_bad_durations_are_usage_errors(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_duration(text)


def test_a_bad_command_line_exits_2() -> None:
    with pytest.raises(SystemExit) as raised:
        main(["up", "--duration", "forever"])
    assert raised.value.code == ExitCode.USAGE == 2


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_scripts(shell: str) -> None:
    out = io.StringIO()
    assert main(["completion", shell], out=out) == 0
    text = out.getvalue()
    assert "complete -F _bastion bastion" in text
    for word in ("up", "down", "kubeconfig", "--cluster", "--duration", "--key", "--cidr"):
        assert word in text
    if shell == "zsh":
        assert text.startswith("#compdef bastion")
    interpreter = shutil.which(shell) or (shutil.which("bash") if shell == "zsh" else None)
    if interpreter is None:
        print(f"{shell} is not installed: the script's syntax was not checked")
        return
    checked = subprocess.run(  # noqa: S603
        [interpreter, "-n"], input=text, capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stderr


def test_ephemeral_keys_are_private_and_removed(tmp_path: Path) -> None:
    root = tmp_path / "sessions"
    private, line = keys.generate_key(root, "alice-1")
    assert line.startswith("ssh-ed25519 ") and line.endswith("fargate-bastion-alice-1")
    assert private.stat().st_mode & 0o777 == 0o600
    assert private.parent.stat().st_mode & 0o777 == 0o700
    assert keys.private_key_for(root, "alice-1") == private
    assert keys.remove_session_dir(root, "alice-1")
    assert not private.exists() and keys.private_key_for(root, "alice-1") is None


def test_a_users_own_key_is_checked_and_never_removed(tmp_path: Path) -> None:
    private, line = keys.generate_key(tmp_path / "elsewhere", "mine")
    found, checked = keys.public_key_of(private)
    assert (found, checked.split()[:2]) == (private, line.split()[:2])
    keys.remember_key(tmp_path / "sessions", "s1", private)
    assert keys.private_key_for(tmp_path / "sessions", "s1") == private.resolve()
    keys.remove_session_dir(tmp_path / "sessions", "s1")
    assert private.exists()
    bad = tmp_path / "bad.pub"
    bad.write_text('command="rm -rf /" ' + line)
    with pytest.raises(CliError) as refused:
        keys.public_key_of(bad)
    assert refused.value.code == ExitCode.REFUSED and refused.value.field == "sshPublicKey"


def test_the_plain_display_writes_no_control_codes() -> None:
    out = io.StringIO()
    progress = Progress(out, live=False)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    progress.step(Step("entered", "RunBastionTask", start))
    progress.tick()
    progress.step(Step("exited", "RunBastionTask", start))
    progress.close()
    assert "\x1b" not in out.getvalue() and "\r" not in out.getvalue()
    assert out.getvalue().count("\n") == 2


def test_the_steps_of_a_view_only_grow_as_the_session_goes_on() -> None:
    def view(*steps: tuple[str, str, str | None], stopped: str | None = None) -> dict[str, Any]:
        return {
            "status": "SUCCEEDED" if stopped else "RUNNING",
            "stoppedAt": stopped,
            "steps": [{"name": n, "enteredAt": i, "exitedAt": o} for n, i, o in steps],
        }

    entered = view(("ValidateRequest", "2026-11-27T10:00:00.000Z", None))
    moved_on = view(
        ("ValidateRequest", "2026-11-27T10:00:00.000Z", "2026-11-27T10:00:01.000Z"),
        ("FindControlPlane", "2026-11-27T10:00:01.000Z", None),
    )
    ended = view(
        ("ValidateRequest", "2026-11-27T10:00:00.000Z", "2026-11-27T10:00:01.000Z"),
        ("FindControlPlane", "2026-11-27T10:00:01.000Z", "2026-11-27T10:00:02.000Z"),
        stopped="2026-11-27T10:00:03.000Z",
    )
    first, second, last = steps_of(entered), steps_of(moved_on), steps_of(ended)
    assert second[: len(first)] == first and last[: len(second)] == second
    assert [(s.kind, s.state) for s in last[len(second) :]] == [
        ("exited", "FindControlPlane"),
        ("ended", "Succeeded"),
    ]


def test_the_live_display_rewrites_only_the_line_in_progress() -> None:
    out = io.StringIO()
    progress = Progress(out, live=True)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    progress.step(Step("entered", "WaitForBastionAddress", start))
    progress.tick()
    progress.step(Step("exited", "WaitForBastionAddress", start))
    lines = out.getvalue().split("\n")
    assert "\r\x1b[K" in out.getvalue()
    assert lines[-2].endswith("ok WaitForBastionAddress")


# --------------------------------------------------------------------------- the API


class _Recorder(BaseHTTPRequestHandler):
    seen: list[dict[str, Any]] = []  # noqa: RUF012 - shared by the test's one server
    answers: list[tuple[int, dict[str, Any]]] = []  # noqa: RUF012

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.seen.append(
            {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
        )
        status, document = self.answers.pop(0)
        payload = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_POST = do_GET = do_DELETE = _answer  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return


@pytest.fixture
def api_target() -> Iterator[Target]:
    _Recorder.seen, _Recorder.answers = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    session = boto3.Session(
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",  # noqa: S106
        region_name="eu-west-1",
    )
    try:
        yield Target(session=session, api_url=f"http://127.0.0.1:{server.server_port}/prod")
    finally:
        server.shutdown()
        server.server_close()


def test_api_requests_are_signed_with_the_users_credentials(api_target: Target) -> None:
    _Recorder.answers.append(
        (201, {"sessionId": "s-1", "executionArn": "arn", "status": "STARTING"})
    )
    status, answer = api.call(api_target, "POST", api.sessions_path("payments"), {"x": 1})
    assert (status, answer["sessionId"]) == (201, "s-1")
    request = _Recorder.seen[0]
    assert (request["method"], request["path"]) == ("POST", "/prod/clusters/payments/sessions")
    authorization = request["headers"]["Authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/execute-api/aws4_request" in authorization
    assert "X-Amz-Date" in request["headers"]
    assert json.loads(request["body"]) == {"x": 1}


@pytest.mark.parametrize(
    ("cluster", "session_id", "path"),
    [
        ("payments", "alice-1", "/clusters/payments/sessions/alice-1"),
        # A hostile value stays inside its own segment, for the API to refuse by name.
        ("payments", "../../victim", "/clusters/payments/sessions/..%2F..%2Fvictim"),
        ("payments", "a/b?c=*", "/clusters/payments/sessions/a%2Fb%3Fc%3D%2A"),
        ("../other", "x", "/clusters/..%2Fother/sessions/x"),
    ],
)
def test_the_routes_name_the_cluster_and_keep_each_value_in_its_segment(
    cluster: str, session_id: str, path: str
) -> None:
    assert api.session_path(cluster, session_id) == path
    assert api.sessions_path(cluster) == path.rsplit("/", 1)[0]


def test_a_cap_refusal_names_the_limit(api_target: Target) -> None:
    refusal = {"message": "MaxSessionsPerCaller: you already have 2", "field": None}
    _Recorder.answers.append((429, {**refusal, "limit": "MaxSessionsPerCaller"}))
    with pytest.raises(CliError) as refused:
        api.call(api_target, "POST", api.sessions_path("payments"), {})
    assert refused.value.code == ExitCode.REFUSED
    assert refused.value.message.startswith("MaxSessionsPerCaller: ")


def test_a_session_id_in_use_elsewhere_is_refused(api_target: Target) -> None:
    taken = {"message": "sessionId: session 'a-1' already exists", "field": "sessionId"}
    _Recorder.answers.append((409, taken))
    with pytest.raises(CliError) as refused:
        api.call(api_target, "POST", api.sessions_path("payments"), {"sessionId": "a-1"})
    assert (refused.value.code, refused.value.field) == (ExitCode.REFUSED, "sessionId")


def test_api_refusals_name_the_field(api_target: Target) -> None:
    _Recorder.answers.append((400, {"message": "is not a valid EKS name", "field": "cluster"}))
    with pytest.raises(CliError) as refused:
        api.call(api_target, "POST", api.sessions_path("-"), {})
    assert refused.value.code == ExitCode.REFUSED
    assert refused.value.message == "cluster: is not a valid EKS name"
    validate(refused.value.to_dict(), "error")


def test_resources_are_a_table_of_printable_text(
    api_target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a group whose name (anyone may name a group) would drive a terminal
    monkeypatch.setenv("BASTION_API_URL", api_target.api_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    group = {"groupId": "sg-1", "groupName": "\x1b[2Jgone", "vpcId": "vpc-1", "tags": {}}
    owned = {
        "sessionId": "alice-1",
        "cluster": "payments",
        "status": "SUCCEEDED",
        "securityGroups": [group],
        "controlPlaneRules": [],
        "bastionTasks": [],
        "holdParameters": [],
    }
    _Recorder.answers += [(200, owned), (200, owned)]
    # WHEN its resources are shown, as a table and as JSON
    words = ["resources", "alice-1", "--cluster", "payments"]
    out, as_json = io.StringIO(), io.StringIO()
    assert main(words, out=out) == main([*words, "--output", "json"], out=as_json) == 0
    # THEN the route is the session's, the leaked group is listed, and nothing is raw
    assert _Recorder.seen[0]["path"] == "/prod/clusters/payments/sessions/alice-1/resources"
    assert out.getvalue().splitlines() == [
        "session alice-1: SUCCEEDED, cluster payments",
        "KIND            ID    DETAIL",
        "security group  sg-1  \\x1b[2Jgone",
    ]
    validate(json.loads(as_json.getvalue()), "resources")


@pytest.mark.parametrize(
    ("region", "words"), [(None, "no AWS region"), ("eu-west-1", "no AWS credentials")]
)
def test_missing_region_or_credentials_exit_5(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    region: str | None,
    words: str,
) -> None:
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    if region:
        monkeypatch.setenv("AWS_REGION", region)
    api_url = "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/v1"
    assert main(["status", "--api-url", api_url]) == ExitCode.CONFIGURATION == 5
    assert capsys.readouterr().err.startswith(f"bastion: {words}")

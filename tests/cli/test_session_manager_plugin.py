"""The Session Manager plugin: found on PATH or named by BASTION_SESSION_MANAGER_PLUGIN
(an absolute path to an executable file, else refused), missing (a clear error naming it,
its install page and the command to run once it is installed), failing (its exit status
and the last lines of its stderr named), and run with a StartSession answer as the AWS CLI
runs it.

The real plugin cannot run here (it is in no reachable registry): these tests run
stand-in plugins, executable scripts written by each test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from bastion.cli import session_manager_plugin as plugin
from bastion.cli import session_manager_proxy as proxy
from bastion.cli.errors import CliError, ExitCode

pytestmark = pytest.mark.cli

RESPONSE = {"SessionId": "alice-0a1b2c3d4e5f67890", "TokenValue": "t0k3n", "StreamUrl": "wss://x"}
REQUEST = {"Target": "ecs:c_0123456789abcdef0123456789abcdef_x-1", "DocumentName": "Doc"}


def script(path: Path, body: str, mode: int = 0o755) -> Path:
    """An executable Python script at ``path`` running ``body``."""
    path.write_text(f"#!{sys.executable}\nimport json, os, sys\n{body}\n")
    path.chmod(mode)
    return path


def test_the_plugin_is_found_on_path(tmp_path: Path) -> None:
    found = script(tmp_path / "session-manager-plugin", "sys.exit(0)")
    assert plugin.find_plugin({"PATH": f"/nonexistent:{tmp_path}"}) == found


@pytest.mark.parametrize(
    "problem",
    ["relative", "missing", "directory", "not executable", "empty"],
)
def test_an_override_that_is_not_an_executable_file_is_refused(
    tmp_path: Path, problem: str
) -> None:
    on_path = script(tmp_path / "session-manager-plugin", "sys.exit(0)")
    named = {
        "relative": "session-manager-plugin",
        "missing": str(tmp_path / "nowhere"),
        "directory": str(tmp_path),
        "not executable": str(script(tmp_path / "plain", "sys.exit(0)", mode=0o644)),
        "empty": "",
    }[problem]
    environ = {"PATH": str(on_path.parent), plugin.OVERRIDE: named}
    if problem == "empty":  # an empty variable is no override
        assert plugin.find_plugin(environ) == on_path
        return
    with pytest.raises(CliError) as refused:
        plugin.find_plugin(environ)
    assert refused.value.code == ExitCode.CONFIGURATION
    assert plugin.OVERRIDE in refused.value.message and repr(named) in refused.value.message


def test_an_override_is_used_before_path(tmp_path: Path) -> None:
    script(tmp_path / "session-manager-plugin", "sys.exit(0)")
    chosen = script(tmp_path / "mine", "sys.exit(0)")
    assert plugin.find_plugin({"PATH": str(tmp_path), plugin.OVERRIDE: str(chosen)}) == chosen


def test_a_missing_plugin_is_named_with_its_install_page_and_the_command(tmp_path: Path) -> None:
    with pytest.raises(CliError) as missing:
        plugin.find_plugin({"PATH": str(tmp_path)}, then="bastion ssh alice-1")
    message = missing.value.message
    assert missing.value.code == ExitCode.CONFIGURATION
    assert "session-manager-plugin" in message and plugin.INSTALL_PAGE in message
    assert message.endswith("then run: bastion ssh alice-1")


ARGUMENT_CHECK = """
expected_response = json.loads(os.environ["EXPECTED_RESPONSE"])
if sys.argv[1:] == ["--version"]:
    print(os.environ["STANDIN_VERSION"])
    sys.exit(0)
first, region, operation, profile, request, endpoint = sys.argv[1:]
response = json.loads(os.environ[first] if first == "AWS_SSM_START_SESSION_RESPONSE" else first)
assert response == expected_response, response
assert (region, operation, profile) == ("eu-west-1", "StartSession", "dev"), sys.argv
assert json.loads(request) == json.loads(os.environ["EXPECTED_REQUEST"]), request
assert endpoint == "https://ssm.eu-west-1.amazonaws.com", endpoint
print("token on the command line:", first != "AWS_SSM_START_SESSION_RESPONSE", file=sys.stderr)
sys.stdout.write(sys.stdin.read().upper())
"""


@pytest.mark.parametrize(
    ("version", "on_command_line"),
    [("1.2.707.0", False), ("1.2.497.0", True), ("not a version", True)],
)
def test_the_plugin_gets_the_answer_as_the_aws_cli_passes_it_with_stdio_through(
    tmp_path: Path, version: str, on_command_line: bool
) -> None:
    standin = script(tmp_path / "session-manager-plugin", ARGUMENT_CHECK)
    # The plugin runs in a child process whose stdin and stdout are ours, as under ssh.
    runner = (
        "import sys, json\n"
        "from pathlib import Path\n"
        "from bastion.cli.session_manager_plugin import run_plugin\n"
        "sys.exit(run_plugin(Path(sys.argv[1]), json.loads(sys.argv[2]), 'eu-west-1', 'dev',"
        " json.loads(sys.argv[3]), 'https://ssm.eu-west-1.amazonaws.com'))\n"
    )
    done = subprocess.run(  # noqa: S603 - our interpreter, our script
        [sys.executable, "-c", runner, str(standin), json.dumps(RESPONSE), json.dumps(REQUEST)],
        input="ssh bytes\n",
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "EXPECTED_RESPONSE": json.dumps(RESPONSE),
            "EXPECTED_REQUEST": json.dumps(REQUEST),
            "STANDIN_VERSION": version,
        },
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "SSH BYTES\n"
    assert f"token on the command line: {on_command_line}" in done.stderr


def test_a_failing_plugin_is_named_with_its_status_and_last_stderr_lines(tmp_path: Path) -> None:
    standin = script(
        tmp_path / "session-manager-plugin",
        "if sys.argv[1:] == ['--version']:\n    print('1.2.707.0'); sys.exit(0)\n"
        "for n in range(30):\n    print(f'noise {n}', file=sys.stderr)\n"
        "print('Cannot perform start session: EOF', file=sys.stderr)\nsys.exit(3)",
    )
    with pytest.raises(CliError) as failed:
        plugin.run_plugin(standin, RESPONSE, "eu-west-1", None, REQUEST, "https://x")
    message = failed.value.message
    assert failed.value.code == ExitCode.ERROR
    assert f"{standin} exited with status 3" in message
    assert "Cannot perform start session: EOF" in message and "noise 29" in message
    assert "noise 0" not in message


PROXY_ARGS = [
    "--target",
    "ecs:fargate-bastion_0123456789abcdef0123456789abcdef_0123456789abcdef0123456789abcdef-1",
    "--document-name",
    "fargate-bastion-BastionSessionDocument-1A2B",
    "--region",
    "eu-west-1",
]


@pytest.fixture
def no_session_started(monkeypatch: pytest.MonkeyPatch) -> None:
    """StartSession must not be called: the proxy refuses first."""

    def start_session_called(*args: object) -> None:
        raise AssertionError("StartSession was called")

    monkeypatch.setattr(proxy, "_ssm_client", start_session_called)


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--target", "ecs:c_x_y;sh"),
        ("--target", "i-0123456789abcdef0"),
        ("--document-name", "AWS-StartPortForwardingSessionToRemoteHost"),
        ("--region", "eu-west-1 --endpoint-url https://attacker.example"),
    ],
)
def test_the_proxy_refuses_hostile_arguments_before_anything_runs(
    flag: str,
    value: str,
    no_session_started: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    words = list(PROXY_ARGS)
    words[words.index(flag) + 1] = value
    assert proxy.main(words) == ExitCode.REFUSED
    assert capsys.readouterr().err.startswith("bastion: refused:")


def test_the_proxy_without_the_plugin_starts_no_session(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    no_session_started: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv(plugin.OVERRIDE, raising=False)
    assert proxy.main(PROXY_ARGS) == ExitCode.CONFIGURATION
    error = capsys.readouterr().err
    assert plugin.PLUGIN in error and plugin.INSTALL_PAGE in error


class RecordingSsm:
    """An SSM client that starts one session and records what is asked of it after."""

    meta = type("Meta", (), {"endpoint_url": "https://ssm.eu-west-1.amazonaws.com"})()

    def __init__(self, terminate_error: Exception | None = None) -> None:
        self.terminated: list[str] = []
        self.terminate_error = terminate_error

    def start_session(self, **request: object) -> dict[str, str]:
        return dict(RESPONSE)

    def terminate_session(self, SessionId: str) -> dict[str, str]:  # noqa: N803 - boto3's name
        self.terminated.append(SessionId)
        if self.terminate_error is not None:
            raise self.terminate_error
        return {"SessionId": SessionId}


def _proxy_with(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, body: str | None, ssm: RecordingSsm
) -> Path:
    """The proxy set to use ``ssm`` and a stand-in plugin running ``body`` (None: one that
    is found but cannot be run when its turn comes)."""
    standin = script(
        tmp_path / "session-manager-plugin",
        "if sys.argv[1:] == ['--version']:\n    print('1.2.707.0'); sys.exit(0)\n" + (body or ""),
    )
    monkeypatch.setenv(plugin.OVERRIDE, str(standin))
    monkeypatch.setattr(proxy, "_ssm_client", lambda *args: ssm)
    if body is None:
        real_run = plugin.run_plugin

        def run_after_it_is_gone(path: Path, *args: object) -> None:
            path.unlink()
            real_run(path, *args)  # type: ignore[arg-type]

        monkeypatch.setattr(proxy, "run_plugin", run_after_it_is_gone)
    return standin


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            "print('Cannot perform start session: EOF', file=sys.stderr); sys.exit(3)",
            id="plugin-fails",
        ),
        pytest.param(None, id="plugin-cannot-run"),
    ],
)
def test_a_session_the_plugin_does_not_carry_is_terminated_at_once(
    body: str | None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a Session Manager session started on the bastion
    ssm = RecordingSsm()
    _proxy_with(monkeypatch, tmp_path, body, ssm)
    # WHEN the plugin fails, or cannot be run at all
    assert proxy.main(PROXY_ARGS) == ExitCode.ERROR
    # THEN the session is terminated, not left open until its idle timeout, and said so
    assert ssm.terminated == [RESPONSE["SessionId"]]
    error = capsys.readouterr().err
    assert f"Session Manager session {RESPONSE['SessionId']} terminated" in error


def test_a_session_that_cannot_be_terminated_is_named_for_the_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    denied = ClientError(
        {"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}}, "TerminateSession"
    )
    ssm = RecordingSsm(terminate_error=denied)
    _proxy_with(monkeypatch, tmp_path, "sys.exit(3)", ssm)
    assert proxy.main(PROXY_ARGS) == ExitCode.ERROR
    error = capsys.readouterr().err
    assert "exited with status 3" in error
    assert (
        f"Session Manager session {RESPONSE['SessionId']} could not be terminated "
        "(AccessDeniedException: not allowed)"
    ) in error
    assert f"aws ssm terminate-session --session-id {RESPONSE['SessionId']}" in error


def test_a_session_the_plugin_ended_well_is_not_terminated_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ssm = RecordingSsm()
    _proxy_with(monkeypatch, tmp_path, "sys.exit(0)", ssm)
    assert proxy.main(PROXY_ARGS) == 0
    assert ssm.terminated == []


def test_a_session_id_is_shown_inert_in_the_command_that_ends_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a StartSession answer whose session id carries a shell word and an escape sequence
    hostile = "alice-0a1b; rm -rf ~ \x1b[2J"
    monkeypatch.setitem(RESPONSE, "SessionId", hostile)
    unreachable = EndpointConnectionError(endpoint_url="https://ssm.eu-west-1.amazonaws.com")
    ssm = RecordingSsm(terminate_error=unreachable)
    _proxy_with(monkeypatch, tmp_path, "sys.exit(3)", ssm)
    # WHEN the plugin fails and the session cannot be terminated
    assert proxy.main(PROXY_ARGS) == ExitCode.ERROR
    error = capsys.readouterr().err
    # THEN the terminal gets no escape sequence, and the suggested command is one word's id
    assert "\x1b" not in error
    assert "aws ssm terminate-session --session-id 'alice-0a1b; rm -rf ~ \\x1b[2J'" in error

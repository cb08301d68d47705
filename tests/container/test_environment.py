"""What the entry point makes of its environment: refusals, the region, the kubeconfig."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tasks.common.ssh_keys import SshKeyError, parse_public_key
from tests.container.harness import CONTAINER, Bastion, ClientKey, Launcher, json_lines, run
from tests.unit.keys import (
    blob_of,
    ecdsa_key,
    ed25519_key,
    key_line,
    rsa_key,
    sk_ecdsa_key,
    sk_ed25519_key,
    ssh_string,
)

pytestmark = pytest.mark.container


def refusal(result: Any) -> tuple[str, dict[str, Any]]:
    """The message on stderr and the exit event of a refused start."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    events = list(json_lines(result.stdout))
    assert events[-1]["event"] == "exit"
    assert events[-1]["reason"] == "invalid-environment"
    assert events[-1]["exitCode"] == 2
    assert result.stderr.startswith("fargate-bastion: refusing to start: ")
    return result.stderr, events[-1]


# ------------------------------------------------------------------ the authorized key


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        (None, "BASTION_AUTHORIZED_KEY is not set"),
        ("", "BASTION_AUTHORIZED_KEY is not set"),
        ("not a key at all", "does not start with a key type"),
        ("ssh-ed25519 AAAA$$$$ alice", "is not a valid ssh-ed25519 public key"),
        (f'command="/bin/sh" {ed25519_key()}', "must not have an options prefix"),
        (f"no-pty,no-port-forwarding {ed25519_key()}", "must not have an options prefix"),
        (f"{ed25519_key()}\n{ed25519_key()}", "exactly one line: one public key (it has 2"),
    ],
    ids=["missing", "empty", "malformed", "bad-base64", "options", "option-flags", "two-keys"],
)
def test_a_bad_key_stops_the_start(launcher: Launcher, key: str | None, problem: str) -> None:
    # WHEN the entry point starts (for real, not --check) with a bad key
    result = launcher.run_to_end(key)
    # THEN it refuses, saying what is wrong, and starts nothing
    message, event = refusal(result)
    assert problem in message
    assert problem in event["message"]
    assert "started" not in result.stdout


def corpus() -> list[tuple[str, str]]:
    """Keys the workflow's rules accept and refuse (tasks/common/ssh_keys.py)."""
    ed25519_blob = blob_of(ed25519_key())
    return [
        ("ed25519", ed25519_key()),
        ("ed25519-no-comment", ed25519_key("")),
        ("ed25519-padded", f"  {ed25519_key()}\n"),
        ("rsa2048", rsa_key(2048)),
        ("p256", ecdsa_key(ec.SECP256R1())),
        ("p384", ecdsa_key(ec.SECP384R1())),
        ("p521", ecdsa_key(ec.SECP521R1())),
        ("sk-ed25519", sk_ed25519_key()),
        ("sk-ecdsa", sk_ecdsa_key()),
        ("option-restrict", f"restrict {rsa_key(2048)}"),
        ("option-from", f'from="10.0.0.0/8" {ed25519_key()}'),
        ("dsa", key_line("ssh-dss", ssh_string(b"ssh-dss") + b"\x00" * 8)),
        ("no-data", "ssh-ed25519"),
        ("bad-padding", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIP"),
        ("type-mismatch", key_line("ssh-rsa", ed25519_blob)),
        ("truncated", key_line("ssh-ed25519", ed25519_blob[:-5])),
        ("length-only", key_line("ssh-ed25519", b"\x00\x00\x00\x0b")),
        (
            "ed25519-31-bytes",
            key_line("ssh-ed25519", ssh_string(b"ssh-ed25519") + ssh_string(b"\x01" * 31)),
        ),
        ("trailing-bytes", key_line("ssh-ed25519", ed25519_blob + b"\x00")),
        ("rsa-1024", rsa_key(1024)),
        (
            "curve-mismatch",
            key_line(
                "ecdsa-sha2-nistp384",
                ssh_string(b"ecdsa-sha2-nistp384") + blob_of(ecdsa_key(ec.SECP256R1()))[23:],
            ),
        ),
        ("control-char", f"{ed25519_key('')} bad\x07comment"),
        ("too-long", "ssh-ed25519 " + "A" * 9000),
    ]


def workflow_accepts(key: str) -> bool:
    try:
        parse_public_key(key)
    except SshKeyError:
        return False
    return True


@pytest.mark.parametrize(("name", "key"), corpus(), ids=[name for name, _ in corpus()])
def test_the_entry_point_agrees_with_the_workflow_on_every_key(
    launcher: Launcher, name: str, key: str
) -> None:
    result = launcher.run_to_end(key, arguments=["--check"])
    if workflow_accepts(key):
        assert result.returncode == 0, f"{name}: {result.stderr}"
        (event,) = json_lines(result.stdout)
        assert event["event"] == "check"
        assert event["authorizedKeyType"] == key.split()[0]
        assert event["authorizedKeyFingerprint"].startswith("SHA256:")
    else:
        message, _ = refusal(result)
        assert "BASTION_AUTHORIZED_KEY" in message


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("BASTION_SESSION_ID", None, "BASTION_SESSION_ID must be 1 to 80"),
        ("BASTION_SESSION_ID", "a b", "BASTION_SESSION_ID must be 1 to 80"),
        ("BASTION_CLUSTER_NAME", "", "BASTION_CLUSTER_NAME must be an EKS cluster name"),
        ("BASTION_EXPIRES_AT", "tomorrow", "BASTION_EXPIRES_AT must be a UTC time"),
        ("BASTION_EXPIRES_AT", "2026-13-45T99:00:00Z", "BASTION_EXPIRES_AT must be a UTC time"),
        ("BASTION_IDLE_TIMEOUT_SECONDS", "0", "BASTION_IDLE_TIMEOUT_SECONDS must be"),
        ("BASTION_IDLE_TIMEOUT_SECONDS", "30m", "BASTION_IDLE_TIMEOUT_SECONDS must be"),
        ("BASTION_SSH_PORT", "70000", "BASTION_SSH_PORT must be a port number"),
        ("BASTION_RUNTIME_DIR", "relative/dir", "BASTION_RUNTIME_DIR must be an absolute"),
        # The endpoint becomes sshd's PermitOpen: a wildcard, a list or an address would
        # open the door wider than the cluster's API.
        ("BASTION_ENDPOINT_HOST", None, "BASTION_ENDPOINT_HOST is not set"),
        ("BASTION_ENDPOINT_HOST", "", "BASTION_ENDPOINT_HOST is not set"),
        ("BASTION_ENDPOINT_HOST", "*", "BASTION_ENDPOINT_HOST must be a DNS host name"),
        ("BASTION_ENDPOINT_HOST", "*.eks.amazonaws.com", "BASTION_ENDPOINT_HOST must be a DNS"),
        ("BASTION_ENDPOINT_HOST", "a.example b.example", "BASTION_ENDPOINT_HOST must be a DNS"),
        ("BASTION_ENDPOINT_HOST", "a.example:22", "BASTION_ENDPOINT_HOST must be a DNS"),
        ("BASTION_ENDPOINT_HOST", "https://a.example", "BASTION_ENDPOINT_HOST must be a DNS"),
        ("BASTION_ENDPOINT_HOST", "10.0.12.7", "not an address"),
        ("BASTION_ENDPOINT_HOST", "::1", "BASTION_ENDPOINT_HOST must be a DNS"),
        ("BASTION_ENDPOINT_HOST", "a." * 127 + "eks", "BASTION_ENDPOINT_HOST must be a DNS"),
        ("BASTION_MODE", "both", "BASTION_MODE must be tunnel or shell"),
        ("BASTION_SESSION_EXPIRES_AT", "soon", "BASTION_SESSION_EXPIRES_AT must be a UTC time"),
        # The session's own expiry cannot lie beyond the hard stop it is warned against.
        ("BASTION_SESSION_EXPIRES_AT", "2999-01-01T00:00:00Z", "not after BASTION_EXPIRES_AT"),
        ("BASTION_ENDPOINT_PORT", "0", "BASTION_ENDPOINT_PORT must be a port number"),
    ],
)
def test_any_bad_variable_stops_the_start(
    launcher: Launcher, user_key: ClientKey, variable: str, value: str | None, problem: str
) -> None:
    message, _ = refusal(launcher.run_to_end(user_key.public_line, {variable: value}))
    assert problem in message


def test_a_session_already_over_does_not_start(launcher: Launcher, user_key: ClientKey) -> None:
    result = launcher.run_to_end(
        user_key.public_line, {"BASTION_EXPIRES_AT": "2020-01-01T00:00:00Z"}
    )
    assert result.returncode == 0
    (event,) = json_lines(result.stdout)
    assert (event["event"], event["reason"]) == ("exit", "expired")


# --------------------------------------------------------------------------- the region


@pytest.fixture
def metadata_endpoint() -> Iterator[Callable[[dict[str, Any]], str]]:
    """A stand-in for the ECS task metadata endpoint v4: serves ``/task``."""
    servers: list[http.server.HTTPServer] = []

    def serve(task: dict[str, Any]) -> str:
        class TaskMetadata(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the handler API's name
                found = self.path.endswith("/task")
                body = json.dumps(task if found else {}).encode()
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), TaskMetadata)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{server.server_address[1]}/v4/0123456789abcdef-1234567890"

    try:
        yield serve
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


TASK_ARN = "arn:aws:ecs:eu-west-3:123456789012:task/fargate-bastion/0123456789abcdef"


def kubeconfig(bastion: Bastion) -> dict[str, Any]:
    return json.loads((bastion.runtime / "kubeconfig").read_text())


def test_the_region_comes_from_the_task_metadata_endpoint(
    launcher: Launcher,
    user_key: ClientKey,
    metadata_endpoint: Callable[[dict[str, Any]], str],
    tmp_path: Path,
) -> None:
    # GIVEN the metadata endpoint's task in eu-west-3, and AWS_REGION saying otherwise
    uri = metadata_endpoint({"TaskARN": TASK_ARN, "AvailabilityZone": "eu-west-3b"})
    bastion = launcher.start(
        user_key.public_line, {"ECS_CONTAINER_METADATA_URI_V4": uri, "AWS_REGION": "us-east-1"}
    )
    # THEN the metadata wins, for the kubeconfig and for the users' sessions
    started = bastion.wait_for("started")
    assert (started["region"], started["regionSource"]) == ("eu-west-3", "metadata")
    exec_args = kubeconfig(bastion)["users"][0]["user"]["exec"]["args"]
    assert exec_args[:2] == ["--region", "eu-west-3"]
    session = bastion.ssh(user_key, tmp_path, 'echo "$AWS_REGION $AWS_DEFAULT_REGION"')
    assert session.stdout.strip() == "eu-west-3 eu-west-3", session.stderr
    # AND the sessions can reach the endpoint too
    echoed = bastion.ssh(user_key, tmp_path, 'echo "$ECS_CONTAINER_METADATA_URI_V4"')
    assert echoed.stdout.strip() == uri


def test_the_availability_zone_gives_the_region_without_a_task_arn(
    launcher: Launcher, user_key: ClientKey, metadata_endpoint: Callable[[dict[str, Any]], str]
) -> None:
    uri = metadata_endpoint({"AvailabilityZone": "ap-southeast-2c"})
    bastion = launcher.start(user_key.public_line, {"ECS_CONTAINER_METADATA_URI_V4": uri})
    started = bastion.wait_for("started")
    assert (started["region"], started["regionSource"]) == ("ap-southeast-2", "metadata")


@pytest.mark.parametrize(
    ("variables", "region", "source"),
    [
        (
            # an endpoint that does not answer (nothing listens on port 9)
            {
                "ECS_CONTAINER_METADATA_URI_V4": "http://127.0.0.1:9/v4/nothing-listens",
                "AWS_REGION": "us-west-2",
                "AWS_DEFAULT_REGION": "eu-north-1",
            },
            "us-west-2",
            "AWS_REGION",
        ),
        (
            # no endpoint at all: a container run outside ECS
            {"AWS_REGION": None, "AWS_DEFAULT_REGION": "eu-north-1"},
            "eu-north-1",
            "AWS_DEFAULT_REGION",
        ),
    ],
    ids=["endpoint-down-AWS_REGION", "no-endpoint-AWS_DEFAULT_REGION"],
)
def test_without_an_answering_endpoint_the_aws_variables_give_the_region(
    launcher: Launcher,
    user_key: ClientKey,
    variables: dict[str, str | None],
    region: str,
    source: str,
) -> None:
    bastion = launcher.start(user_key.public_line, variables)
    started = bastion.wait_for("started")
    assert (started["region"], started["regionSource"]) == (region, source)
    # The endpoint's failure is logged, not fatal.
    assert bool(started["metadataError"]) == ("ECS_CONTAINER_METADATA_URI_V4" in variables)


# ---------------------------------------------------------------- kubeconfig and banner


def test_the_kubeconfig_is_written_at_once_without_calling_eks(
    launcher: Launcher, user_key: ClientKey
) -> None:
    # GIVEN no aws CLI at all on the PATH
    bastion = launcher.start(user_key.public_line, {"BASTION_CLUSTER_NAME": "payments"})
    bastion.wait_for("started")
    # THEN the kubeconfig has the get-token user and the context, and says what it lacks
    config = kubeconfig(bastion)
    assert config["current-context"] == "payments"
    assert config["contexts"] == [
        {"name": "payments", "context": {"cluster": "payments", "user": "payments"}}
    ]
    (user,) = config["users"]
    assert user["user"]["exec"] == {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "command": "aws",
        "args": [
            "--region",
            "eu-west-1",
            "eks",
            "get-token",
            "--cluster-name",
            "payments",
            "--output",
            "json",
        ],
        "interactiveMode": "Never",
    }
    assert config["clusters"] == []
    event = bastion.wait_for("kubeconfig")
    assert (event["status"], event["reason"]) == ("incomplete", "the aws CLI is not installed")
    status = (bastion.runtime / "kubeconfig.status").read_text()
    assert "aws eks update-kubeconfig --name payments --region eu-west-1" in status


ENDPOINT = "https://0123456789ABCDEF.gr7.eu-west-1.eks.amazonaws.com"
DESCRIBED = json.dumps({"endpoint": ENDPOINT, "ca": "LS0tLS1CRUdJTg=="})
FAKE_AWS = f"""#!/bin/sh
# Stands in for `aws eks describe-cluster`: records its arguments, answers as EKS would.
printf '%s\\n' "$*" >> "$(dirname "$0")/aws.calls"
printf '%s\\n' '{DESCRIBED}'
"""


def test_the_kubeconfig_is_completed_from_describe_cluster_in_the_background(
    launcher: Launcher, user_key: ClientKey
) -> None:
    bastion = launcher.start(user_key.public_line, fake_aws=FAKE_AWS)
    event = bastion.wait_for("kubeconfig")
    assert event["status"] == "ready", event
    (cluster,) = kubeconfig(bastion)["clusters"]
    assert cluster == {
        "name": "demo",
        "cluster": {
            "server": ENDPOINT,
            "certificate-authority-data": "LS0tLS1CRUdJTg==",
        },
    }
    (call,) = (bastion.root / "bin" / "aws.calls").read_text().splitlines()
    assert call.startswith("eks describe-cluster --region eu-west-1 --name demo ")
    assert (bastion.runtime / "kubeconfig.status").read_text().startswith("ready: https://")


def test_the_banner_names_the_cluster_the_expiry_and_the_tunnel(
    launcher: Launcher, user_key: ClientKey
) -> None:
    bastion = launcher.start(
        user_key.public_line,
        {"BASTION_CLUSTER_NAME": "payments", "BASTION_EXPIRES_AT": "2099-01-02T03:04:05Z"},
    )
    bastion.wait_for("started")
    banner = (bastion.runtime / "motd").read_text()
    assert "cluster   payments (region eu-west-1)" in banner
    assert "expires   2099-01-02 03:04 UTC" in banner
    assert f"ssh -N -D 1080 {bastion.account.name}@" in banner
    assert "proxy-url: socks5://localhost:1080" in banner


def test_the_login_profile_shows_the_cluster_and_an_incomplete_kubeconfig(
    tmp_path: Path,
) -> None:
    status = tmp_path / "kubeconfig.status"
    status.write_text("incomplete (AccessDenied): run aws eks update-kubeconfig --name demo\n")
    shown = run(
        ["sh", "-c", '. "$1"; printf "%s" "$PS1"', "sh", str(CONTAINER / "profile.sh")],
        env={
            "BASTION_CLUSTER_NAME": "demo",
            "KUBECONFIG": str(tmp_path / "kubeconfig"),
            "PATH": "/usr/bin:/bin",
        },
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("kubeconfig: incomplete (AccessDenied): run aws eks")
    assert shown.stdout.endswith("[bastion demo] \\w \\$ ")
    status.write_text("ready: https://example.eks.amazonaws.com\n")
    quiet = run(
        ["sh", "-c", '. "$1"', "sh", str(CONTAINER / "profile.sh")],
        env={"KUBECONFIG": str(tmp_path / "kubeconfig"), "PATH": "/usr/bin:/bin"},
    )
    assert quiet.stdout == ""

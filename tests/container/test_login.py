"""Logging in to a real bastion: the session's key only, and the tunnel users rely on."""

from __future__ import annotations

import http.server
import ipaddress
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.container.harness import DEADLINE, Bastion, ClientKey, free_port, popen, run

pytestmark = pytest.mark.container


def source_port(result: subprocess.CompletedProcess[str]) -> int:
    """The client's port, from the SSH_CONNECTION the session printed first."""
    return int(result.stdout.splitlines()[0].split()[1])


def test_the_session_key_logs_in_and_runs_a_command(
    running_bastion: Bastion, user_key: ClientKey, tmp_path: Path
) -> None:
    # WHEN the session's key logs in, checking the host key the entry point generated
    result = running_bastion.ssh(
        user_key,
        tmp_path,
        'echo "$SSH_CONNECTION"; id -un; echo "kubeconfig=$KUBECONFIG region=$AWS_REGION"',
    )
    # THEN the command ran, as the bastion's own user, with the session's environment
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1] == running_bastion.account.name
    assert lines[2] == f"kubeconfig={running_bastion.runtime / 'kubeconfig'} region=eu-west-1"
    # AND one connect and one disconnect event name the key and the client's address
    port = source_port(result)
    connect = running_bastion.wait_for("connect", lambda event: event["sourcePort"] == port)
    assert connect["fingerprint"] == user_key.fingerprint
    assert connect["sourceAddress"] == "127.0.0.1"
    assert connect["keyType"] == "ED25519"
    assert connect["sessionId"] == "test-session-1"
    disconnect = running_bastion.wait_for("disconnect", lambda event: event["sourcePort"] == port)
    assert disconnect["connections"] == 0


def logins(bastion: Bastion) -> int:
    return len(bastion.named("connect"))


def test_another_key_is_refused(
    running_bastion: Bastion, other_key: ClientKey, tmp_path: Path
) -> None:
    before = logins(running_bastion)
    result = running_bastion.ssh(other_key, tmp_path, "true")
    assert result.returncode == 255
    assert "Permission denied (publickey)" in result.stderr
    running_bastion.wait_for(
        "sshd",
        lambda event: (
            "Failed publickey" in event["message"] and other_key.fingerprint in event["message"]
        ),
    )
    assert logins(running_bastion) == before


def test_a_password_is_not_even_offered(running_bastion: Bastion, tmp_path: Path) -> None:
    # WHEN a client asks for password or keyboard-interactive authentication
    result = running_bastion.ssh(
        None,
        tmp_path,
        "true",
        options=[
            "PubkeyAuthentication=no",
            "PreferredAuthentications=password,keyboard-interactive",
            "NumberOfPasswordPrompts=1",
        ],
    )
    # THEN the server lists publickey as the only method that can continue
    assert result.returncode == 255
    assert "Permission denied (publickey)." in result.stderr


def test_root_is_refused_even_with_the_session_key(
    running_bastion: Bastion, user_key: ClientKey, tmp_path: Path
) -> None:
    before = logins(running_bastion)
    result = running_bastion.ssh(user_key, tmp_path, "true", user="root")
    assert result.returncode == 255
    assert "Permission denied" in result.stderr
    assert logins(running_bastion) == before


def test_remote_forwarding_is_refused(
    running_bastion: Bastion, user_key: ClientKey, tmp_path: Path
) -> None:
    # AllowTcpForwarding local: a user cannot open a listener on the bastion.
    result = running_bastion.ssh(
        user_key,
        tmp_path,
        "true",
        options=[f"RemoteForward=127.0.0.1:{free_port()} 127.0.0.1:9", "ExitOnForwardFailure=yes"],
    )
    assert result.returncode != 0
    assert "remote port forwarding failed" in result.stderr


# ------------------------------------------------------------------ the SOCKS tunnel


@pytest.fixture
def private_api_endpoint(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """An HTTPS server on 127.0.0.1 standing in for the private EKS API endpoint."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file = tmp_path / "endpoint.pem"
    key_file = tmp_path / "endpoint.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )

    class Version(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the handler API's name
            body = b'{"major": "1", "minor": "35"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Version)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], cert_file
    finally:
        server.shutdown()
        server.server_close()


def wait_for_listener(port: int, tunnel: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        assert tunnel.poll() is None, f"ssh -D exited: {tunnel.communicate()[1]}"
        probe = run(["curl", "-s", "-o", "/dev/null", f"http://127.0.0.1:{port}/"])
        if probe.returncode != 7:  # 7: could not connect
            return
        time.sleep(0.1)
    raise AssertionError(f"ssh -D never listened on {port}")


def test_ssh_dynamic_forwarding_reaches_the_private_endpoint(
    running_bastion: Bastion,
    user_key: ClientKey,
    tmp_path: Path,
    private_api_endpoint: tuple[int, Path],
) -> None:
    assert shutil.which("curl"), "curl is needed: run `make test`"
    endpoint_port, ca_file = private_api_endpoint
    socks_port = free_port()
    earlier = running_bastion.named("connect")
    # GIVEN `ssh -N -D` to the bastion, as the banner tells users to run
    tunnel = popen(
        running_bastion.ssh_command(
            user_key, tmp_path, options=[f"DynamicForward=127.0.0.1:{socks_port}"]
        )[:-1]
        + ["-N", f"{running_bastion.account.name}@127.0.0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_listener(socks_port, tunnel)
        # WHEN a client fetches the endpoint through the SOCKS proxy, verifying its TLS
        fetched = run(
            [
                "curl",
                "--silent",
                "--show-error",
                "--max-time",
                "10",
                "--socks5-hostname",
                f"127.0.0.1:{socks_port}",
                "--cacert",
                str(ca_file),
                f"https://localhost:{endpoint_port}/version",
            ],
        )
        # THEN it gets the endpoint's answer, through the bastion
        assert fetched.returncode == 0, fetched.stderr
        assert fetched.stdout == '{"major": "1", "minor": "35"}'
        tunnel_login = running_bastion.wait_for("connect", lambda event: event not in earlier)
        assert tunnel_login["fingerprint"] == user_key.fingerprint
    finally:
        tunnel.terminate()
        tunnel.wait(timeout=DEADLINE)

"""The started event: sent once sshd accepts connections, with the host keys sshd presents.

A client that pins the reported keys (a known_hosts written from the event, ssh's
``StrictHostKeyChecking=yes``) reaches that bastion and no other: every test of this
tier logs in that way (``Bastion.known_hosts``), and a second bastion, with host keys of
its own, is refused here. The local AWS's simulated bastion writes the same line
(``bastion.local.simulated_bastion``): it is compared with the real one's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bastion.local.simulated_bastion import started_event
from tasks.common.host_keys import HostKey, known_hosts_lines, started_host_keys
from tests.container.endpoint import VERSION_BODY, HttpsServer
from tests.container.harness import ENDPOINT_HOST, ClientKey, Launcher, run, utc_in
from tests.container.test_door import Tunnel, fetch

pytestmark = pytest.mark.container


def keyscan(port: int) -> set[tuple[str, str]]:
    """The host keys sshd on 127.0.0.1:``port`` presents, as ``(type, base64)``."""
    scanned = run(
        ["ssh-keyscan", "-T", "5", "-p", str(port), "-t", "ed25519,ecdsa,rsa", "127.0.0.1"]
    )
    found = set()
    for line in scanned.stdout.splitlines():
        if line and not line.startswith("#"):
            _, key_type, key = line.split()
            found.add((key_type, key))
    assert found, f"ssh-keyscan found no host key on port {port}: {scanned.stderr}"
    return found


def keygen_fingerprint(key: HostKey, directory: Path) -> str:
    public = directory / f"{key.key_type}.pub"
    public.write_text(f"{key.key_type} {key.key}\n")
    listing = run(["ssh-keygen", "-l", "-E", "sha256", "-f", str(public)], check=True).stdout
    return listing.split()[1]


def test_the_started_event_reports_the_host_keys_sshd_presents(
    launcher: Launcher, user_key: ClientKey, tmp_path: Path
) -> None:
    bastion = launcher.start(user_key.public_line)
    started = bastion.wait_for("started")

    # sshd accepts at once: the event follows its listen(2), so the first scan answers
    reported = started_host_keys(started)
    assert keyscan(bastion.port) == {(key.key_type, key.key) for key in reported}
    assert sorted(key.key_type for key in reported) == ["ecdsa-sha2-nistp256", "ssh-ed25519"]
    # each key's fingerprint is ssh-keygen's, and the older hostKeys field says the same
    for key in reported:
        assert key.fingerprint == keygen_fingerprint(key, tmp_path)
    assert sorted(started["hostKeys"]) == sorted(
        f"{'ED25519' if key.key_type == 'ssh-ed25519' else 'ECDSA'} {key.fingerprint}"
        for key in reported
    )


def test_the_reported_keys_let_a_strict_client_log_in_and_forward(
    launcher: Launcher, user_key: ClientKey, endpoint: HttpsServer, tmp_path: Path
) -> None:
    bastion = launcher.start(
        user_key.public_line,
        {"BASTION_ENDPOINT_PORT": str(endpoint.port), "BASTION_EXPIRES_AT": utc_in(300)},
    )
    started = bastion.wait_for("started")
    pinned = tmp_path / "known_hosts"
    pinned.write_text("\n".join(known_hosts_lines(started, "127.0.0.1", bastion.port)) + "\n")

    logged_in = bastion.ssh(user_key, tmp_path, "echo", "in")
    assert (logged_in.returncode, logged_in.stdout) == (0, "in\n"), logged_in.stderr
    tunnel = Tunnel(
        bastion, user_key, tmp_path, f"LocalForward={{port}} {ENDPOINT_HOST}:{endpoint.port}"
    )
    try:
        fetched = fetch(f"https://localhost:{tunnel.port}/version", endpoint.ca_file)
        assert (fetched.returncode, fetched.stdout) == (0, VERSION_BODY), fetched.stderr
    finally:
        tunnel.close()
    assert bastion.known_hosts(tmp_path).read_text() == pinned.read_text()


def test_a_bastion_presenting_other_host_keys_is_refused(
    launcher: Launcher, user_key: ClientKey, tmp_path: Path
) -> None:
    first = launcher.start(user_key.public_line)
    second = launcher.start(user_key.public_line)
    first_started = first.wait_for("started")
    second.wait_for("started")
    # GIVEN the keys the first bastion reported, pinned for the address of the second
    pinned = tmp_path / "known_hosts-first"
    pinned.write_text("\n".join(known_hosts_lines(first_started, "127.0.0.1", second.port)) + "\n")

    # WHEN a strict client connects to the second with the session's own key
    refused = second.ssh(user_key, tmp_path, "echo", "in", known_hosts=pinned)

    # THEN it refuses the host before authenticating; the second bastion saw no login
    assert refused.returncode == 255
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in refused.stderr
    assert "Host key verification failed" in refused.stderr
    assert "in" not in refused.stdout
    assert second.named("connect") == []
    # and the second bastion's own reported keys let the same client in
    assert second.ssh(user_key, tmp_path, "echo", "in").stdout == "in\n"


def _shape(event: dict[str, Any]) -> list[tuple[str, str]]:
    return [(name, type(value).__name__) for name, value in event.items()]


def test_the_simulated_started_event_is_the_entry_points(
    launcher: Launcher, user_key: ClientKey
) -> None:
    bastion = launcher.start(user_key.public_line, {"BASTION_EXPIRES_AT": utc_in(300)})
    real = bastion.wait_for("started")
    environment = launcher.environment(bastion.root, bastion.port, user_key.public_line, {})
    environment["BASTION_EXPIRES_AT"] = real["expiresAt"]

    simulated = started_event(
        environment,
        region=real["region"],
        region_source=real["regionSource"],
        metadata_error=real["metadataError"],
    )

    # the same fields, in the same order, of the same JSON types
    assert _shape(simulated) == _shape(real)
    # the same values, but for the moment and the freshly generated host keys
    varying = {"time", "hostKeys", "hostPublicKeys"}
    assert {k: v for k, v in simulated.items() if k not in varying} == {
        k: v for k, v in real.items() if k not in varying
    }
    for field in ("hostKeys", "hostPublicKeys"):
        assert [
            _shape(item) if isinstance(item, dict) else type(item).__name__
            for item in simulated[field]
        ] == [
            _shape(item) if isinstance(item, dict) else type(item).__name__ for item in real[field]
        ]
    assert [word.split()[0] for word in simulated["hostKeys"]] == [
        word.split()[0] for word in real["hostKeys"]
    ]
    assert [key.key_type for key in started_host_keys(simulated)] == [
        key.key_type for key in started_host_keys(real)
    ]
    assert len(simulated["time"]) == len(real["time"]) and simulated["time"].endswith("Z")

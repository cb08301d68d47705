"""Attacks on the local bastion's door: through it, the demo cluster's endpoint and nothing
else on this machine (not the local AWS's own endpoint, not any other loopback service)."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from bastion import local_daemon
from tests.cli.conftest import Cli

pytestmark = pytest.mark.cli

#: What OpenSSH says when the bastion refuses a -W destination.
REFUSED = "stdio forwarding failed"


@pytest.fixture(scope="module")
def door(cli: Cli, real_bastions: None) -> Iterator[dict[str, Any]]:
    code, document = cli.json("up", "--local", "--wait", "--session-id", "attack-local-door")
    assert code == 0, document
    try:
        yield document
    finally:
        cli.run("down", "--local", document["sessionId"])


def _stdio_forward(
    session: dict[str, Any], host: str, port: int
) -> subprocess.CompletedProcess[str]:
    """``ssh -W host:port`` through the session's bastion, with nothing to send."""
    argv = shlex.split(session["sshCommand"])
    argv[1:1] = ["-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-W", f"{host}:{port}"]
    return subprocess.run(  # noqa: S603 - the session's own ssh command
        argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30, check=False
    )


def test_a_tunnel_to_the_local_aws_endpoint_is_refused(cli: Cli, door: dict[str, Any]) -> None:
    endpoint = local_daemon.running(cli.local_dir)
    assert endpoint is not None
    address = urlsplit(endpoint.endpoint_url)
    assert address.hostname and address.port
    for host in (address.hostname, "localhost"):
        done = _stdio_forward(door, host, address.port)
        assert done.returncode != 0 and REFUSED in done.stderr, (host, done.stderr)


def test_a_tunnel_to_the_clusters_endpoint_is_the_one_that_opens(
    cli: Cli, door: dict[str, Any]
) -> None:
    import boto3

    endpoint = local_daemon.running(cli.local_dir)
    assert endpoint is not None
    eks = boto3.Session(region_name=endpoint.region, **endpoint.credentials.for_boto3()).client(
        "eks", endpoint_url=endpoint.endpoint_url
    )
    server = urlsplit(eks.describe_cluster(name=door["cluster"])["cluster"]["endpoint"])
    assert server.hostname and server.port
    opened = _stdio_forward(door, server.hostname, server.port)
    assert opened.returncode == 0 and REFUSED not in opened.stderr, opened.stderr
    # The same host on any other port is refused.
    other = _stdio_forward(door, server.hostname, server.port + 1)
    assert other.returncode != 0 and REFUSED in other.stderr, other.stderr

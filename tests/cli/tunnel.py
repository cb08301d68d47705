"""The kubeconfig tunnel, checked as kubectl would use it: the command the CLI printed runs,
and the cluster's endpoint answers through its SOCKS5 port with the endpoint's own name and
certificate authority."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator, Mapping
from typing import Any


def socks5_get(proxy_port: int, server: str, ca_pem: bytes, path: str) -> dict[str, Any]:
    """GET ``server + path`` through a SOCKS5 proxy, trusting ``ca_pem`` (as kubectl would)."""
    host, port = server.removeprefix("https://").rsplit(":", 1)
    with socket.create_connection(("127.0.0.1", proxy_port), timeout=10) as raw:
        raw.sendall(b"\x05\x01\x00")
        assert raw.recv(2) == b"\x05\x00"
        name = host.encode()
        raw.sendall(b"\x05\x01\x00\x03" + bytes([len(name)]) + name + int(port).to_bytes(2, "big"))
        reply = raw.recv(10)
        assert reply[:2] == b"\x05\x00", reply
        context = ssl.create_default_context(cadata=ca_pem.decode())
        with context.wrap_socket(raw, server_hostname=host) as tls:
            tls.sendall(
                f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
            )
            answer = b""
            while chunk := tls.recv(65536):
                answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200") or head.startswith(b"HTTP/1.1 200"), head
    return dict(json.loads(body))


def wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise AssertionError(f"the tunnel never listened on {port}")


@contextlib.contextmanager
def running_tunnel(
    document: Mapping[str, Any], env: Mapping[str, str] | None = None
) -> Iterator[int]:
    """Run ``bastion kubeconfig``'s printed tunnel command until the block ends; yields
    its SOCKS5 port once it listens."""
    tunnel = subprocess.Popen(  # noqa: S603 - the command the CLI printed
        document["tunnelCommand"],
        env=dict(env) if env is not None else None,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        wait_for_port(document["socksPort"], tunnel)
        yield int(document["socksPort"])
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(tunnel.pid, signal.SIGTERM)
        tunnel.wait(timeout=10)


def endpoint_version(socks_port: int, cluster: Mapping[str, Any]) -> dict[str, Any]:
    """``/version`` of the kubeconfig's cluster, through the tunnel, trusting its CA."""
    ca = base64.b64decode(cluster["certificate-authority-data"])
    return socks5_get(socks_port, cluster["server"], ca, "/version")

"""A stand-in for a private EKS API endpoint: HTTPS on loopback, a few read-only paths.

The local AWS points its ``demo`` cluster's endpoint here, so that ``bastion kubeconfig``
and the SSH tunnel it prints can be shown reaching "the private endpoint" with the
user's own kubectl (``kubectl get --raw /version``). It answers ``/version``, ``/api``
and ``/apis``; anything else is a Kubernetes-style 404. Its certificate is self-signed
for 127.0.0.1 and is what ``describe-cluster`` reports as the certificate authority.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import ssl
import tempfile
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

VERSION = {
    "major": "1",
    "minor": "31",
    "gitVersion": "v1.31.0-fargate-bastion-standin",
    "platform": "linux/amd64",
}


def _self_signed() -> tuple[bytes, bytes]:
    """A certificate for 127.0.0.1 and its private key, both PEM."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return (
        certificate.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        path = self.path.split("?", 1)[0]
        body: dict[str, Any]
        if path == "/version":
            status, body = 200, VERSION
        elif path == "/api":
            status, body = 200, {"kind": "APIVersions", "versions": ["v1"]}
        elif path == "/apis":
            status, body = 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": []}
        else:
            status, body = (
                404,
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "status": "Failure",
                    "message": f"the stand-in API serves /version, /api and /apis, not {path}",
                    "reason": "NotFound",
                    "code": 404,
                },
            )
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        return


@dataclass
class StandinApi:
    """A running stand-in API: its URL and the certificate to trust."""

    url: str
    certificate_pem: bytes
    server: ThreadingHTTPServer

    @property
    def port(self) -> int:
        """The port it listens on (of 127.0.0.1)."""
        return int(self.server.server_address[1])

    @property
    def certificate_authority_data(self) -> str:
        """The certificate as ``describe-cluster`` reports it (base64 of the PEM)."""
        return base64.b64encode(self.certificate_pem).decode()

    def stop(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


def start_standin_api() -> StandinApi:
    """Serve the stand-in API on a free port of 127.0.0.1, in a daemon thread."""
    certificate, key = _self_signed()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as scratch:
        cert_file, key_file = Path(scratch) / "cert.pem", Path(scratch) / "key.pem"
        cert_file.write_bytes(certificate)
        key_file.write_bytes(key)
        context.load_cert_chain(cert_file, key_file)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, name="kube-standin", daemon=True)
    thread.start()
    port = server.server_address[1]
    # Named, not an address: a bastion forwards only to the endpoint's host name, as EKS
    # reports it (the certificate names localhost and 127.0.0.1).
    return StandinApi(url=f"https://localhost:{port}", certificate_pem=certificate, server=server)


def point_cluster_at(cluster_name: str, api: StandinApi) -> None:
    """Make the running local AWS's EKS cluster ``cluster_name`` report the stand-in."""
    from moto.eks.models import eks_backends

    from bastion.local.active import current

    controls = current()
    if controls is None:
        raise RuntimeError("the local AWS is not running")
    cluster = eks_backends[controls.account_id][controls.region].clusters[cluster_name]
    cluster.endpoint = api.url
    cluster.certificate_authority = {"data": api.certificate_authority_data}

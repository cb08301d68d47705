"""The bastion container's environment contract (documented in container/README.md).

RunBastionTask sets exactly the variables of ``CONTAINER_ENVIRONMENT`` as container
overrides, and for a private session those of ``PRIVATE_ENVIRONMENT`` too.
``OPTIONAL_ENVIRONMENT`` holds the variables it sets for no public session, with the
defaults the container's entry point applies; the task definitions in template.yaml may
set some of them. Tests compare both with the README's tables, the entry point and the
template, so none of them can drift apart.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from tasks.common.access_modes import PRIVATE

if TYPE_CHECKING:
    from tasks.common.models import Session

SESSION_ID = "BASTION_SESSION_ID"
CLUSTER_NAME = "BASTION_CLUSTER_NAME"
AUTHORIZED_KEY = "BASTION_AUTHORIZED_KEY"
EXPIRES_AT = "BASTION_EXPIRES_AT"
SESSION_EXPIRES_AT = "BASTION_SESSION_EXPIRES_AT"
IDLE_TIMEOUT_SECONDS = "BASTION_IDLE_TIMEOUT_SECONDS"
ENDPOINT_HOST = "BASTION_ENDPOINT_HOST"
MODE = "BASTION_MODE"

ENDPOINT_PORT = "BASTION_ENDPOINT_PORT"

SSH_PORT = "BASTION_SSH_PORT"
LISTEN_ADDRESS = "BASTION_LISTEN_ADDRESS"
EXPIRY_WARNING_SECONDS = "BASTION_EXPIRY_WARNING_SECONDS"
RUNTIME_DIR = "BASTION_RUNTIME_DIR"
SSHD_CONFIG = "BASTION_SSHD_CONFIG"
SSHD = "BASTION_SSHD"

#: Every variable RunBastionTask sets, in the README's order.
CONTAINER_ENVIRONMENT: tuple[str, ...] = (
    SESSION_ID,
    CLUSTER_NAME,
    AUTHORIZED_KEY,
    EXPIRES_AT,
    SESSION_EXPIRES_AT,
    IDLE_TIMEOUT_SECONDS,
    ENDPOINT_HOST,
    MODE,
)

#: The optional variables and the container's defaults ("" is unset: sshd listens on
#: every address), in the README's order.
OPTIONAL_ENVIRONMENT: dict[str, str] = {
    ENDPOINT_PORT: "443",
    SSH_PORT: "22",
    LISTEN_ADDRESS: "",
    EXPIRY_WARNING_SECONDS: "300",
    RUNTIME_DIR: "/run/bastion",
    SSHD_CONFIG: "/etc/ssh/sshd_config",
    SSHD: "/usr/sbin/sshd",
}

#: What a private session's container gets besides the contract: sshd listens on the
#: task's loopback only, where the Session Manager agent in the task relays each session
#: (the private task definition says the same; the override makes it hold whatever the
#: task definition says).
PRIVATE_ENVIRONMENT: dict[str, str] = {LISTEN_ADDRESS: "127.0.0.1"}


#: BASTION_MODE's values: a tunnel to the cluster's endpoint only, or a shell as well.
MODES = ("tunnel", "shell")
#: BASTION_ENDPOINT_HOST: a DNS name (the entry point checks the same shape), which
#: becomes sshd's PermitOpen: no wildcard, list, port or address may pass.
ENDPOINT_HOST_SHAPE = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)


def check_endpoint_host(host: str) -> str:
    """``host`` if it is a plain DNS host name (not an address); else a ValueError."""
    if not ENDPOINT_HOST_SHAPE.fullmatch(host) or host.rsplit(".", 1)[-1].isdigit():
        raise ValueError(
            f"endpointHost must be the DNS host name of the cluster's API endpoint, got {host!r}"
        )
    return host


def container_environment(
    session: Session, idle_timeout_seconds: int, endpoint_host: str, mode: str
) -> dict[str, str]:
    """The container's environment for ``session``: exactly the contract's variables, and
    for a private session :data:`PRIVATE_ENVIRONMENT`.

    ``endpoint_host`` is the host name of the cluster's API endpoint, the one place the
    bastion forwards to (on 443); ``mode`` the stack's BastionMode.
    """
    if mode not in MODES:
        raise ValueError(f"the bastion mode must be one of {', '.join(MODES)}, got {mode!r}")
    private = PRIVATE_ENVIRONMENT if session.access_mode == PRIVATE else {}
    return {
        SESSION_ID: session.session_id,
        CLUSTER_NAME: session.cluster,
        AUTHORIZED_KEY: session.ssh_public_key,
        # The hard stop: the latest the session may be extended to. The container cannot
        # be told of an extension, so the hold ends the session at its own expiry first.
        EXPIRES_AT: session.latest_expiry,
        # What users are warned of and the banner names: the session's expiry at its start.
        SESSION_EXPIRES_AT: session.expires_at,
        IDLE_TIMEOUT_SECONDS: str(idle_timeout_seconds),
        ENDPOINT_HOST: endpoint_host,
        MODE: mode,
        **private,
    }

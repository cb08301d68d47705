"""The bastion container's environment contract (documented in container/README.md).

RunBastionTask sets exactly these variables as container overrides; a test compares
this list with the README's table, so the two cannot drift apart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tasks.common.models import Session

SESSION_ID = "BASTION_SESSION_ID"
CLUSTER_NAME = "BASTION_CLUSTER_NAME"
AUTHORIZED_KEY = "BASTION_AUTHORIZED_KEY"
EXPIRES_AT = "BASTION_EXPIRES_AT"
IDLE_TIMEOUT_SECONDS = "BASTION_IDLE_TIMEOUT_SECONDS"

#: Every variable of the contract, in the README's order.
CONTAINER_ENVIRONMENT: tuple[str, ...] = (
    SESSION_ID,
    CLUSTER_NAME,
    AUTHORIZED_KEY,
    EXPIRES_AT,
    IDLE_TIMEOUT_SECONDS,
)


def container_environment(session: Session, idle_timeout_seconds: int) -> dict[str, str]:
    """The container's environment for ``session``: exactly the contract's variables."""
    return {
        SESSION_ID: session.session_id,
        CLUSTER_NAME: session.cluster,
        AUTHORIZED_KEY: session.ssh_public_key,
        EXPIRES_AT: session.expires_at,
        IDLE_TIMEOUT_SECONDS: str(idle_timeout_seconds),
    }

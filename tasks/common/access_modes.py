"""How users reach a session's bastion: its access mode.

``public``: the bastion has a public IP and its group lets SSH in from the session's
``allowedCidrs``. ``private``: no public IP and no ingress rule at all; sshd listens on
the task's loopback only and users reach it through a Session Manager session on the
task's ECS Exec target, with the stack's own session document. The stack's
``AccessModes`` lists the modes it allows, its default first.
"""

from __future__ import annotations

PUBLIC = "public"
PRIVATE = "private"
ACCESS_MODES = (PUBLIC, PRIVATE)
#: The stack's AccessModes values: one mode, or both with the default first.
ALLOWED_SETTINGS = ((PUBLIC,), (PRIVATE,), (PUBLIC, PRIVATE), (PRIVATE, PUBLIC))


def parse_access_modes(raw: str) -> tuple[str, ...]:
    """The modes a stack allows, from its comma-separated setting (empty: public only);
    ValueError for anything else."""
    if not raw.strip():
        return (PUBLIC,)
    modes = tuple(item.strip() for item in raw.split(","))
    if modes not in ALLOWED_SETTINGS:
        allowed = ", ".join(",".join(setting) for setting in ALLOWED_SETTINGS)
        raise ValueError(f"must be one of {allowed}, got {raw!r}")
    return modes

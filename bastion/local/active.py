"""The one switch every patch reads: which local AWS, if any, is running now.

The patches stay installed for the whole process once installed; they look here on
every call and behave exactly like unpatched moto while nothing is active.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bastion.local.actions import ActionLog
    from bastion.local.awslogs import AwsLogsDriver
    from bastion.local.ec2_control import Ec2Control
    from bastion.local.ecs_control import EcsControl
    from bastion.local.eventbridge import EventBus
    from bastion.local.faults import Faults
    from bastion.local.lambda_runtime import Invocation
    from bastion.local.log_subscriptions import LogDeliveries
    from bastion.local.random_faults import RandomFaults


@dataclass(frozen=True)
class Controls:
    """What the patches need from the running local AWS."""

    region: str
    account_id: str
    time_scale: float
    faults: Faults
    ecs: EcsControl
    ec2: Ec2Control
    invocations: list[Invocation]
    events: EventBus
    actions: ActionLog
    random_faults: RandomFaults
    awslogs: AwsLogsDriver
    log_deliveries: LogDeliveries
    #: Session Manager sessions StartSession opened, by id: "Connected" or "Terminated".
    ssm_sessions: dict[str, str] = field(default_factory=dict)


_lock = threading.Lock()
_current: Controls | None = None


def current() -> Controls | None:
    """The controls of the running local AWS, or None when none runs."""
    return _current


def activate(controls: Controls) -> None:
    """Make ``controls`` the running local AWS; only one may run at a time."""
    global _current
    with _lock:
        if _current is not None:
            raise RuntimeError("another LocalAws is already running in this process")
        _current = controls


def replace(running: Controls, replacement: Controls) -> None:
    """Route patched calls to ``replacement`` from now on, if ``running`` is the active one."""
    global _current
    with _lock:
        if _current is running:
            _current = replacement


def deactivate(controls: Controls) -> None:
    """Stop routing patched calls to ``controls`` (no-op if they are not the active ones)."""
    global _current
    with _lock:
        if _current is controls:
            _current = None

"""The EC2 knobs of one local AWS: when a stopped Fargate task's network interface goes.

On AWS a stopped task's interface is released late, so ``DeleteSecurityGroup`` on its
groups keeps answering ``DependencyViolation`` for a while. :class:`Ec2Control` holds that
delay, as a count of failed attempts or a time after the stop; the patches of
:mod:`bastion.local.ec2_network` ask it.
"""

from __future__ import annotations

import threading
import time
from typing import Any


class Ec2Control:
    """Knobs for EC2 behaviour in one local AWS."""

    def __init__(self) -> None:
        #: How many more ``DeleteSecurityGroup`` attempts on a stopped task's groups answer
        #: ``DependencyViolation`` before its network interface is gone (read when the task
        #: stops; 0 releases the interface at once).
        self.eni_release_dependency_violations = 0
        self._lock = threading.Lock()
        self._releasing: dict[str, int] = {}
        #: Interfaces released by time: (when the task stopped, workflow seconds after it).
        self._releasing_at: dict[str, tuple[float, float]] = {}

    def release_network_interface(
        self, ec2_backend: Any, eni_id: str, attempts: int | None = None
    ) -> None:
        """Delete a stopped task's interface now, or after ``attempts`` failed attempts
        (by default :attr:`eni_release_dependency_violations`)."""
        if attempts is None:
            attempts = self.eni_release_dependency_violations
        if attempts <= 0:
            _delete_interface(ec2_backend, eni_id)
            return
        with self._lock:
            self._releasing[eni_id] = attempts

    def release_network_interface_after(self, eni_id: str, seconds: float) -> None:
        """Delete a stopped task's interface once ``seconds`` of workflow time have passed
        (real time multiplied by the time scale, read when an attempt asks)."""
        with self._lock:
            self._releasing_at[eni_id] = (time.monotonic(), float(seconds))

    def release_due(self, ec2_backend: Any, scale: float) -> None:
        """Delete the interfaces whose release time has come (``scale``: how many times
        faster than real time workflow time runs)."""
        with self._lock:
            due = [
                eni_id
                for eni_id, (stopped, seconds) in self._releasing_at.items()
                if (time.monotonic() - stopped) * scale >= seconds
            ]
            for eni_id in due:
                del self._releasing_at[eni_id]
        for eni_id in due:
            _delete_interface(ec2_backend, eni_id)

    def is_releasing(self, eni_id: str) -> bool:
        """Whether ``eni_id`` belongs to a stopped task and is on its way out."""
        with self._lock:
            return eni_id in self._releasing or eni_id in self._releasing_at

    def count_blocked_attempt(self, ec2_backend: Any, eni_id: str) -> None:
        """One ``DeleteSecurityGroup`` failed because of ``eni_id``; release it when due."""
        with self._lock:
            if eni_id not in self._releasing:
                return
            self._releasing[eni_id] -= 1
            due = self._releasing[eni_id] <= 0
            if due:
                del self._releasing[eni_id]
        if due:
            _delete_interface(ec2_backend, eni_id)


def _delete_interface(ec2_backend: Any, eni_id: str) -> None:
    eni = ec2_backend.enis.get(eni_id)
    if eni is None:
        return
    # Free the private address too, as NetworkInterface.delete does.
    eni.delete()

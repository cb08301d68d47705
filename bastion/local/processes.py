"""Which process a pid is now, read from /proc (Linux), so that a stale pid is never signalled.

A pid is reused once its process is gone: before signalling a process the local AWS
started, its command line and start time (in clock ticks since boot, which no later
process with the same pid can share) are compared with what was recorded at its start.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


def pids() -> list[int]:
    """Every process id now."""
    return [int(entry.name) for entry in PROC.iterdir() if entry.name.isdigit()]


def command_line(pid: int) -> list[str] | None:
    """The process's argv, or None when there is no such process (or it is a zombie)."""
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return None
    return [word.decode(errors="replace") for word in raw.split(b"\0")[:-1]] or None


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ppid pgrp ..." where comm may hold spaces and parentheses.
    return text[text.rindex(")") + 2 :].split()


def start_time(pid: int) -> int | None:
    """When the process started (clock ticks since boot), or None when there is none."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def parent(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[1]) if fields else None


def descendants(pid: int) -> list[int]:
    """The process's children, their children, and so on (a snapshot)."""
    children: dict[int, list[int]] = {}
    for other in pids():
        above = parent(other)
        if above is not None:
            children.setdefault(above, []).append(other)
    found: list[int] = []
    queue = list(children.get(pid, []))
    while queue:
        child = queue.pop()
        found.append(child)
        queue.extend(children.get(child, []))
    return found


@dataclass(frozen=True)
class ProcessIdentity:
    """A process as recorded when it started: pid, start time and a word of its argv."""

    pid: int
    started: int
    marker: str

    @classmethod
    def of(cls, pid: int, marker: str) -> ProcessIdentity | None:
        started = start_time(pid)
        return None if started is None else cls(pid, started, marker)

    def is_alive(self) -> bool:
        """Whether the recorded process still runs (not another one with its pid)."""
        argv = command_line(self.pid)
        return (
            argv is not None
            and start_time(self.pid) == self.started
            and any(self.marker in word for word in argv)
        )


def signal_if_same(identity: ProcessIdentity, signum: int) -> bool:
    """Send ``signum`` to the recorded process if it still is that process."""
    if not identity.is_alive():
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(identity.pid, signum)
        return True
    return False


def wait_gone(identities: Iterable[ProcessIdentity], timeout: float) -> bool:
    """Wait until none of the processes runs; whether they all ended in time."""
    remaining = list(identities)
    deadline = time.monotonic() + timeout
    while True:
        for identity in remaining:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(identity.pid, os.WNOHANG)
        remaining = [identity for identity in remaining if identity.is_alive()]
        if not remaining or time.monotonic() >= deadline:
            return not remaining
        time.sleep(0.05)


def end(identities: Iterable[ProcessIdentity], timeout: float = 10.0) -> None:
    """SIGTERM the recorded processes that still are themselves, then SIGKILL leftovers."""
    alive = [identity for identity in identities if signal_if_same(identity, signal.SIGTERM)]
    if not wait_gone(alive, timeout):
        for identity in alive:
            signal_if_same(identity, signal.SIGKILL)
        wait_gone(alive, timeout)

"""The awslogs log driver of the local AWS: each task's output in CloudWatch Logs, as it runs.

On Fargate, a container whose definition says ``logDriver: awslogs`` has every line it
writes put to CloudWatch Logs by the driver: group ``awslogs-group``, stream
``<awslogs-stream-prefix>/<container name>/<task id>``, one event per line, in order,
timestamped when the driver reads it, while the task runs. Here the same, from:

* a task the local AWS really runs (``bastion.local.task_runner``): the entry point
  writes to a file, and a follower thread puts each line it appends (every
  :attr:`AwsLogsDriver.poll_seconds`);
* a simulated task: the lines it is given (the bastion's started line,
  ``bastion.local.simulated_bastion``), put at once.

Shipping begins when RunTask has returned (nothing of a task runs on AWS before RunTask
answers) and ends, after a last read, when the task stops. This module holds the state;
putting the events is the function given to :meth:`AwsLogsDriver.open` (moto's backend:
``bastion.local.cloudwatch_logs``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bastion.local.waits import WAIT_SECONDS, join

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LogDestination:
    """Where a task's container output goes: a log group and a stream in it."""

    group: str
    stream: str


@dataclass(frozen=True)
class LogLine:
    """One line of output: when the driver read it (ms since the epoch) and its text."""

    timestamp: int
    message: str


@dataclass(frozen=True)
class FileOutput:
    """Output a running process appends to ``path``; this task's lines start at ``offset``."""

    path: Path
    offset: int


@dataclass(frozen=True)
class FixedOutput:
    """Output known in advance (a simulated container's)."""

    lines: tuple[str, ...]


TaskOutput = FileOutput | FixedOutput
PutLines = Callable[[LogDestination, list[LogLine]], None]


def _now_millis() -> int:
    return time.time_ns() // 1_000_000


class _Follower:
    """Puts the lines a file gains, from an offset, until stopped (then reads once more)."""

    def __init__(
        self, name: str, output: FileOutput, destination: LogDestination, put: PutLines, poll: float
    ) -> None:
        self.output = output
        self.destination = destination
        self._put = put
        self._poll = poll
        self._offset = output.offset
        self._partial = b""
        self._last_timestamp = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float) -> None:
        self._stopping.set()
        if self._thread is not threading.current_thread():
            join(self._thread, f"shipping the logs of {self._thread.name}", timeout)

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._read(final=False)
            self._stopping.wait(self._poll)
        self._read(final=True)

    def _read(self, *, final: bool) -> None:
        try:
            with self.output.path.open("rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
        except OSError as error:
            logger.warning("awslogs: cannot read %s: %s", self.output.path, error)
            return
        self._offset += len(data)
        *complete, self._partial = (self._partial + data).split(b"\n")
        if final and self._partial:
            complete.append(self._partial)  # the driver sends an unterminated last line too
            self._partial = b""
        if not complete:
            return
        # In order, never going back in time (PutLogEvents wants them chronological).
        self._last_timestamp = max(self._last_timestamp, _now_millis())
        lines = [
            LogLine(self._last_timestamp, raw.decode("utf-8", errors="replace")) for raw in complete
        ]
        _put_logged(self._put, self.destination, lines)


def _put_logged(put: PutLines, destination: LogDestination, lines: list[LogLine]) -> None:
    try:
        put(destination, lines)
    except Exception:  # the driver loses lines it cannot put; the task goes on, as on AWS
        logger.exception("awslogs: %d line(s) for %s lost", len(lines), destination)


class AwsLogsDriver:
    """The tasks whose output goes to CloudWatch Logs, and the threads that put it."""

    def __init__(self) -> None:
        #: How often a follower looks for new lines in a running task's output file.
        self.poll_seconds = 0.05
        self._lock = threading.Lock()
        self._put: PutLines | None = None
        self._attached: dict[str, tuple[LogDestination, TaskOutput]] = {}
        self._followers: dict[str, _Follower] = {}
        #: Simulated tasks not running yet: their lines are put once they run.
        self._until_running: set[str] = set()

    def open(self, put: PutLines) -> None:
        """Start shipping with ``put`` (the local AWS starts)."""
        with self._lock:
            self._put = put

    def close(self, timeout: float = WAIT_SECONDS) -> None:
        """Stop every follower (each reads once more) and forget every task."""
        with self._lock:
            followers = list(self._followers.values())
            self._followers.clear()
            self._attached.clear()
            self._until_running.clear()
            self._put = None
        for follower in followers:
            follower.stop(timeout)

    def attach(self, task_arn: str, destination: LogDestination, output: TaskOutput) -> None:
        """The task's container writes ``output`` to ``destination`` (from :meth:`begin` on)."""
        with self._lock:
            self._attached[task_arn] = (destination, output)

    def begin(self, task_arn: str, *, running: bool = True) -> None:
        """RunTask has returned: ship what the task wrote so far, and what it writes next.
        A simulated task writes its lines when it runs: not yet if not ``running``."""
        follower: _Follower | None = None
        with self._lock:
            attached = self._attached.get(task_arn)
            put = self._put
            if attached is None or put is None or task_arn in self._followers:
                return
            destination, output = attached
            if isinstance(output, FixedOutput) and not running:
                self._until_running.add(task_arn)
                return
            if isinstance(output, FileOutput):
                name = f"awslogs-{task_arn.rsplit('/', 1)[-1]}"
                follower = _Follower(name, output, destination, put, self.poll_seconds)
                self._followers[task_arn] = follower
        if follower is not None:
            follower.start()
        elif isinstance(output, FixedOutput) and output.lines:
            moment = _now_millis()
            _put_logged(put, destination, [LogLine(moment, line) for line in output.lines])

    def running(self, task_arn: str) -> None:
        """A simulated task waiting to run runs now: its container writes its lines."""
        with self._lock:
            if task_arn not in self._until_running:
                return
            self._until_running.discard(task_arn)
            attached = self._attached.get(task_arn)
            put = self._put
        output = attached[1] if attached is not None else None
        if attached is not None and put is not None and isinstance(output, FixedOutput):
            destination = attached[0]
            moment = _now_millis()
            _put_logged(put, destination, [LogLine(moment, line) for line in output.lines])

    def end(self, task_arn: str, timeout: float = WAIT_SECONDS) -> None:
        """The task stopped: put the last lines it wrote, then stop following it."""
        with self._lock:
            follower = self._followers.pop(task_arn, None)
            self._attached.pop(task_arn, None)
            self._until_running.discard(task_arn)
        if follower is not None:
            follower.stop(timeout)


def file_output(path: Path) -> FileOutput:
    """Output appended to ``path`` from now on (its current end)."""
    try:
        offset = path.stat().st_size
    except FileNotFoundError:
        offset = 0
    return FileOutput(path, offset)

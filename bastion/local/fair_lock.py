"""A re-entrant lock that serves its waiters in the order they came.

``threading.RLock`` makes no promise of order: under load one waiter can lose the race
again and again. The local AWS runs one Lambda handler at a time behind such a lock, so an
unlucky invocation could wait past its state's TimeoutSeconds while fifty others ran.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from types import TracebackType


class FairReentrantLock:
    """First come, first served; the owner may acquire again (and must release as often)."""

    def __init__(self) -> None:
        self._condition = threading.Condition(threading.Lock())
        self._owner: int | None = None
        self._depth = 0
        self._waiting: deque[object] = deque()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """Take the lock once every earlier waiter had it; False if ``timeout`` passed first."""
        me = threading.get_ident()
        with self._condition:
            if self._owner == me:
                self._depth += 1
                return True
            if not blocking:
                timeout = 0
            deadline = None if timeout < 0 else time.monotonic() + timeout
            ticket = object()
            self._waiting.append(ticket)
            while self._owner is not None or self._waiting[0] is not ticket:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    self._waiting.remove(ticket)
                    self._condition.notify_all()
                    return False
                self._condition.wait(remaining)
            self._waiting.popleft()
            self._owner, self._depth = me, 1
            return True

    def release(self) -> None:
        """Release once; the lock is free when released as often as it was acquired."""
        with self._condition:
            if self._owner != threading.get_ident():
                raise RuntimeError("release of a lock this thread does not hold")
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                self._condition.notify_all()

    def __enter__(self) -> FairReentrantLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()

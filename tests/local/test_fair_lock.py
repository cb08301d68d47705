"""The local AWS's invocation lock: first come, first served, re-entrant."""

from __future__ import annotations

import threading
import time

import pytest

from bastion.local.fair_lock import FairReentrantLock

pytestmark = pytest.mark.local


def test_waiters_get_the_lock_in_the_order_they_came() -> None:
    # GIVEN a held lock and five threads queueing for it one after another
    lock = FairReentrantLock()
    lock.acquire()
    order: list[int] = []
    threads = []
    for number in range(5):
        thread = threading.Thread(
            target=lambda n=number: (lock.acquire(), order.append(n), lock.release())
        )
        thread.start()
        threads.append(thread)
        while len(lock._waiting) < number + 1:  # the thread is queued before the next starts
            time.sleep(0.001)
    # WHEN the lock is released
    lock.release()
    for thread in threads:
        thread.join(timeout=5)
    # THEN they had it in their order of arrival
    assert order == [0, 1, 2, 3, 4]


def test_the_owner_may_acquire_again_and_must_release_as_often() -> None:
    lock = FairReentrantLock()
    assert lock.acquire() and lock.acquire()
    lock.release()
    other = threading.Thread(target=lambda: results.append(lock.acquire(timeout=0.05)))
    results: list[bool] = []
    other.start()
    other.join()
    assert results == [False]  # still held once
    lock.release()
    assert lock.acquire(timeout=0.05)
    lock.release()


def test_a_waiter_that_gives_up_leaves_the_queue() -> None:
    lock = FairReentrantLock()
    lock.acquire()
    results: list[bool] = []
    waiter = threading.Thread(target=lambda: results.append(lock.acquire(timeout=0.02)))
    waiter.start()
    waiter.join()
    lock.release()
    assert results == [False]
    assert not lock._waiting
    assert lock.acquire(blocking=False)
    lock.release()


def test_only_the_owner_may_release() -> None:
    lock = FairReentrantLock()
    with pytest.raises(RuntimeError, match="does not hold"):
        lock.release()

"""A handler's variables are seen by its own thread only, never by the others."""

from __future__ import annotations

import os
import threading

import pytest

from bastion.local.environ import thread_environ
from bastion.local.waits import WAIT_SECONDS

pytestmark = pytest.mark.local


def test_variables_set_for_one_thread_are_invisible_to_others() -> None:
    seen: dict[str, object] = {}
    inside = threading.Event()
    release = threading.Event()

    def handler_thread() -> None:
        with thread_environ({"FB_TEST_VARIABLE": "handler"}):
            os.environ["FB_TEST_SET_INSIDE"] = "x"
            seen["handler"] = os.environ.get("FB_TEST_VARIABLE")
            seen["handler_copy"] = os.environ.copy().get("FB_TEST_VARIABLE")
            inside.set()
            release.wait(WAIT_SECONDS)
        seen["handler_after"] = os.environ.get("FB_TEST_VARIABLE")

    worker = threading.Thread(target=handler_thread)
    worker.start()
    assert inside.wait(WAIT_SECONDS)
    # WHEN another thread reads and copies the environment meanwhile
    seen["other"] = os.environ.get("FB_TEST_VARIABLE")
    seen["other_copy"] = "FB_TEST_VARIABLE" in os.environ.copy()
    release.set()
    worker.join(WAIT_SECONDS)

    assert seen == {
        "handler": "handler",
        "handler_copy": "handler",
        "other": None,
        "other_copy": False,
        "handler_after": None,
    }
    assert "FB_TEST_SET_INSIDE" not in os.environ


def test_copying_the_environment_while_handlers_run_never_fails() -> None:
    # The failure this prevents: botocore's os.environ.copy() in one thread raising
    # KeyError because a handler's variable vanished from the shared mapping meanwhile.
    errors: list[BaseException] = []
    stop = threading.Event()

    def handler_loop() -> None:
        while not stop.is_set():
            with thread_environ({f"FB_TEST_{n}": str(n) for n in range(50)}):
                pass

    def copier() -> None:
        try:
            for _ in range(2000):
                os.environ.copy()
        except BaseException as error:  # noqa: BLE001 - any failure is the finding
            errors.append(error)

    handlers = [threading.Thread(target=handler_loop) for _ in range(2)]
    for thread in handlers:
        thread.start()
    copy_thread = threading.Thread(target=copier)
    copy_thread.start()
    copy_thread.join(WAIT_SECONDS)
    stop.set()
    for thread in handlers:
        thread.join(WAIT_SECONDS)
    assert errors == []

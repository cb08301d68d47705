"""The soak's notion of a stuck session: silent, not slow."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from benchmarks import soak


@pytest.fixture
def histories(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[dict[str, Any]]]:
    recorded: dict[str, list[dict[str, Any]]] = {"arn-1": [{}], "arn-2": [{}]}
    monkeypatch.setattr(
        "bastion.local.executions.execution_history", lambda _sfn, arn: recorded[arn]
    )
    return recorded


def _fleet() -> Any:
    return SimpleNamespace(aws=SimpleNamespace(client=lambda _service: object()))


def test_an_execution_that_keeps_recording_events_is_never_stuck(
    histories: dict[str, list[dict[str, Any]]],
) -> None:
    # A deadline of 0 s has always passed: only the histories decide.
    quiet = soak._Quiet(_fleet(), lambda: ["arn-1"], 0.0)
    for _ in range(5):
        histories["arn-1"].append({})
        assert not quiet.passed()


def test_an_execution_that_records_nothing_is_stuck(
    histories: dict[str, list[dict[str, Any]]],
) -> None:
    quiet = soak._Quiet(_fleet(), lambda: ["arn-1"], 0.0)
    assert not quiet.passed()  # the first look only records what is there
    assert quiet.passed()


def test_any_watched_execution_moving_is_progress(
    histories: dict[str, list[dict[str, Any]]],
) -> None:
    watched = ["arn-1", "arn-2"]
    quiet = soak._Quiet(_fleet(), lambda: watched, 0.0)
    assert not quiet.passed()
    histories["arn-2"].append({})
    assert not quiet.passed()
    assert quiet.passed()


def test_the_deadline_is_not_read_before_it_is_due(
    histories: dict[str, list[dict[str, Any]]],
) -> None:
    quiet = soak._Quiet(_fleet(), lambda: ["arn-1"], 3600.0)
    assert not quiet.passed()
    assert not quiet.passed()

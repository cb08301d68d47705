"""The local AWS's clock: a task token's wait follows the time scale while it waits."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from bastion.local import clock


class FakeTime:
    """A monotonic clock that only moves when a wait sleeps on it."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


class Endpoint:
    """Stands in for moto's CallbackEndpoint: nobody answers, every slice times out."""

    def __init__(self, fake: FakeTime, on_slice: Any) -> None:
        self._notify_event = threading.Event()
        self.fake = fake
        self.on_slice = on_slice
        self.slices: list[float] = []

    def wait(self, timeout: float | None = None) -> Any:
        assert timeout is not None
        self.slices.append(timeout)
        self.fake.now += timeout
        self.on_slice(len(self.slices))
        return None


@pytest.fixture
def scale(monkeypatch: pytest.MonkeyPatch) -> dict[str, float]:
    current = {"scale": 10.0}
    fake = FakeTime()
    monkeypatch.setattr(clock, "time", fake)
    monkeypatch.setattr(clock, "time_scale", lambda: current["scale"])
    monkeypatch.setattr(clock, "current", lambda: object())
    current["fake"] = fake  # type: ignore[assignment]
    return current


def test_a_wait_speeds_up_when_the_time_scale_does(scale: dict[str, Any]) -> None:
    # GIVEN a 100-second token wait at 10 times real time (10 real seconds)
    def speed_up_after_the_second_slice(count: int) -> None:
        if count == 2:
            scale["scale"] = 1000.0

    endpoint = Endpoint(scale["fake"], speed_up_after_the_second_slice)
    wait = clock._callback_wait(Endpoint.wait)
    # WHEN time runs 100 times faster after half a real second
    assert wait(endpoint, timeout=100.0) is None
    # THEN the rest of the wait (95 workflow seconds) takes 95 ms, not 9.5 s
    assert endpoint.slices[:2] == [clock.RESCALE_SLICE_SECONDS] * 2
    assert sum(endpoint.slices) == pytest.approx(0.5 + 95.0 / 1000.0)


def test_an_answered_or_interrupted_wait_returns_at_once(scale: dict[str, Any]) -> None:
    endpoint = Endpoint(scale["fake"], lambda count: endpoint._notify_event.set())
    wait = clock._callback_wait(Endpoint.wait)
    assert wait(endpoint, timeout=100.0) is None
    assert endpoint.slices == [clock.RESCALE_SLICE_SECONDS]

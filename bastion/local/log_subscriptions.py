"""Deliveries of CloudWatch Logs subscription filters to Lambda functions, in the local AWS.

CloudWatch Logs invokes a subscription filter's function asynchronously, with the log
events that match the filter's pattern, as ``{"awslogs": {"data": base64(gzip(json))}}``
(``tasks/common/log_subscription.py``). Here one worker thread invokes each function, in
the order the events were put, through the Lambda API as the ``logs.amazonaws.com``
service principal acting for the log group: ``tests/workflow/test_iam.py`` then checks
that the function's resource policy lets CloudWatch Logs invoke it, as AWS would. Each
delivery gets one attempt (asynchronous Lambda's retries are not modelled), and every
attempt is recorded in :attr:`LogDeliveries.delivered`. Which events match, and when a
delivery is queued, is ``bastion.local.cloudwatch_logs``'s part.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bastion.local.actions import Principal, acting_as
from bastion.local.waits import WAIT_SECONDS, join
from tasks.common.log_subscription import LogSubscriptionMessage, encode_subscription_event

#: The service principal CloudWatch Logs invokes functions as.
LOGS_PRINCIPAL = "logs.amazonaws.com"

ClientFactory = Callable[[str], Any]


@dataclass(frozen=True)
class LogDelivery:
    """One attempt to deliver a subscription filter's events to a Lambda function."""

    function_arn: str
    message: LogSubscriptionMessage
    #: ``delivered``, ``failed`` (``error`` says why), or ``lost`` (a test lost it).
    outcome: str
    #: The function's answer (its payload, as text), when it answered.
    result: str | None = None
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        """Whether the function was invoked and answered without an error."""
        return self.outcome == "delivered"


@dataclass(frozen=True)
class _Job:
    function_arn: str
    message: LogSubscriptionMessage
    source_arn: str


class LogDeliveries:
    """Subscription deliveries of one local AWS, made in order on a worker thread."""

    def __init__(self) -> None:
        #: Every delivery attempt so far, oldest first.
        self.delivered: list[LogDelivery] = []
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._pending = 0
        self._closed = True
        self._worker: threading.Thread | None = None
        self._client_factory: ClientFactory | None = None
        self._client: Any = None
        self._to_lose = 0

    def lose(self, count: int = 1) -> None:
        """Lose the next ``count`` deliveries: recorded as ``lost``, the function never
        invoked (CloudWatch Logs delivers at least once, but a destination may be throttled
        or failing for longer than it retries)."""
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        with self._lock:
            self._to_lose += count

    def open(self, client_factory: ClientFactory) -> None:
        """Start delivering; ``client_factory("lambda")`` makes the worker's own client."""
        with self._lock:
            self._client_factory = client_factory
            self._client = None
            self._closed = False
        self._worker = threading.Thread(target=self._work, name="local-log-deliveries", daemon=True)
        self._worker.start()

    def close(self, timeout: float = WAIT_SECONDS) -> None:
        """Stop: the delivery in progress finishes, queued ones are dropped (RuntimeError if
        it is still going ``timeout`` seconds on)."""
        with self._changed:
            if self._closed:
                return
            self._closed = True
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                self._done()
        self._queue.put(None)
        worker, self._worker = self._worker, None
        if worker is not None:
            join(worker, "the log subscription delivery in progress", timeout)

    def deliver(self, function_arn: str, message: LogSubscriptionMessage, source_arn: str) -> None:
        """Queue ``message`` for the function ``function_arn``, invoked for ``source_arn`` (the
        log group's ARN, which the function's resource policy may name)."""
        with self._changed:
            if self._closed:
                return
            self._pending += 1
        self._queue.put(_Job(function_arn, message, source_arn))

    def wait_for_delivery(
        self, predicate: Callable[[LogDelivery], bool], timeout: float = WAIT_SECONDS
    ) -> LogDelivery:
        """The first delivery ``predicate`` accepts, waiting up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = next((d for d in self.delivered if predicate(d)), None)
                if found is not None:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"no such log subscription delivery within {timeout}s "
                        f"({len(self.delivered)} made)"
                    )
                self._changed.wait(remaining)

    def wait_until_idle(self, timeout: float = WAIT_SECONDS) -> None:
        """Wait until every delivery queued so far has been attempted (TimeoutError if not)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{self._pending} log subscription delivery(ies) pending")
                self._changed.wait(remaining)

    def _done(self, delivery: LogDelivery | None = None) -> None:
        with self._changed:
            if delivery is not None:
                self.delivered.append(delivery)
            self._pending -= 1
            self._changed.notify_all()

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            delivery: LogDelivery | None = None
            try:
                delivery = self._invoke(job)
            finally:
                self._done(delivery)

    def _invoke(self, job: _Job) -> LogDelivery:
        with self._lock:
            lost = self._to_lose > 0
            self._to_lose -= 1 if lost else 0
        if lost:
            return LogDelivery(job.function_arn, job.message, "lost")
        payload = json.dumps(encode_subscription_event(job.message))
        try:
            if self._client is None:
                if self._client_factory is None:
                    raise RuntimeError("log subscription deliveries are not open")
                self._client = self._client_factory("lambda")
            with acting_as(Principal("service", LOGS_PRINCIPAL, None, job.source_arn)):
                answer = self._client.invoke(FunctionName=job.function_arn, Payload=payload)
            result = answer["Payload"].read().decode("utf-8")
        except Exception as error:  # noqa: BLE001 - recorded, as a failed delivery
            return LogDelivery(
                job.function_arn, job.message, "failed", error=f"{type(error).__name__}: {error}"
            )
        if answer.get("FunctionError"):
            return LogDelivery(
                job.function_arn,
                job.message,
                "failed",
                result=result,
                error=f"the function answered with an error ({answer['FunctionError']})",
            )
        return LogDelivery(job.function_arn, job.message, "delivered", result=result)

"""EventBridge in the local AWS: the events AWS services emit, rules, and delivery to targets.

Gaps filled (moto 5.2.5):

* Step Functions emits no "Step Functions Execution Status Change" events and ECS no
  "Task State Change" events. Here an execution's start and end, and a task's stop, put
  those events on the default bus (the detail fields AWS documents, the ones rules match on).
* ``PutEvents`` to a rule whose target is a state machine or a Lambda function raises
  ``NotImplementedError``. Here such targets get the event: ``StartExecution`` as the
  target's role, or an invocation of the function (as ``events.amazonaws.com``), after
  ``Input`` / ``InputPath`` / ``InputTransformer``. Other targets go to moto's delivery.
* A rule with only a schedule matches every event, and a DISABLED rule still delivers.
  Here a schedule rule matches no event, and a DISABLED rule delivers nothing.
* Schedules never fire: :meth:`EventBus.fire_schedule` fires one now.

:mod:`bastion.local.put_events` routes moto's ``PutEvents`` here.

Delivery runs on one worker thread, in the order events were put. That order matters for
deadlock freedom: a task stopped inside a Lambda invocation (StopBastionTask) emits its
event while that invocation holds the in-process Lambda lock; the worker delivers it to
EndSession once the invocation has returned. Each target gets one attempt (EventBridge's
and asynchronous Lambda's retries are not modelled); every attempt is recorded in
:attr:`EventBus.delivered`.

State machine targets name their executions deterministically (AWS uses a random id):
``<source execution name or rule name>-<machine name's last word>-<n>``, at most 80
characters, so a test can tell which teardown belongs to which session.
"""

from __future__ import annotations

import copy
import json
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bastion.local.actions import Principal, acting_as
from bastion.local.waits import WAIT_SECONDS, join

#: Step Functions' execution names: at most this many characters.
_MAX_EXECUTION_NAME = 80
_NAME_CHARACTERS = re.compile(r"[^0-9A-Za-z_-]")
_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")
_EVENTS_PRINCIPAL = "events.amazonaws.com"
_SCHEDULED_EVENT = "Scheduled Event"

ClientFactory = Callable[[str], Any]


class DeliveryError(RuntimeError):
    """A target's input could not be built from the event."""


@dataclass(frozen=True)
class EventDelivery:
    """One attempt to deliver an event to one target of one rule."""

    rule_name: str
    rule_arn: str
    target_id: str
    target_arn: str
    #: The event as the rule matched it.
    event: dict[str, Any]
    #: What the target received (the transformed input), as text.
    input: str
    #: ``delivered``, or ``failed`` (``error`` says why).
    outcome: str
    #: The started execution's ARN, or the function's answer (its payload, as text).
    result: str | None = None
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        """Whether the target accepted the event (a Lambda function also answered without
        an error)."""
        return self.outcome == "delivered"


# --- the events AWS services emit -----------------------------------------------------------


def event_time(moment: datetime | None = None) -> str:
    """An event's ``time``: ``moment`` (now by default) in UTC, to the second."""
    return (moment or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _millis(moment: Any) -> int | None:
    if not isinstance(moment, datetime):
        return None
    return int(moment.timestamp() * 1000)


def aws_event(
    source: str,
    detail_type: str,
    detail: Mapping[str, Any],
    resources: list[str],
    region: str,
    account_id: str,
) -> dict[str, Any]:
    """An event as EventBridge hands it to rules and targets."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": account_id,
        "time": event_time(),
        "region": region,
        "resources": resources,
        "detail": dict(detail),
    }


def execution_status_event(
    execution: Any, region: str, account_id: str, *, started: bool = False
) -> dict[str, Any]:
    """The "Step Functions Execution Status Change" event of moto's ``execution`` now
    (``started``: the RUNNING event of its start, however far it has got since)."""
    running = started or not execution.exec_status
    status = "RUNNING" if running else execution.exec_status.value
    detail: dict[str, Any] = {
        "executionArn": execution.exec_arn,
        "stateMachineArn": execution.state_machine_arn,
        "name": execution.name,
        "status": status,
        "startDate": _millis(execution.start_date),
        "stopDate": None if running else _millis(execution.stop_date),
        "input": json.dumps(execution.input_data),
        "output": json.dumps(execution.output) if status == "SUCCEEDED" else None,
        "inputDetails": {"included": True},
        "outputDetails": {"included": True} if status == "SUCCEEDED" else None,
        "error": None if running else execution.error,
        "cause": None if running else execution.cause,
    }
    return aws_event(
        "aws.states",
        "Step Functions Execution Status Change",
        detail,
        [execution.exec_arn],
        region,
        account_id,
    )


def _iso(moment: Any) -> str | None:
    if not isinstance(moment, datetime):
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def task_state_change_event(task: Any, region: str, account_id: str) -> dict[str, Any]:
    """The ECS "Task State Change" event of moto's ``task`` as it is now."""
    containers = [
        {
            "containerArn": f"arn:aws:ecs:{region}:{account_id}:container/{uuid.uuid4()}",
            "name": getattr(container, "name", None)
            or (container.container_definitions or [{}])[0].get("name"),
            "lastStatus": container.last_status,
            "exitCode": getattr(container, "exitCode", None),
            "taskArn": task.task_arn,
        }
        for container in task.containers
    ]
    detail: dict[str, Any] = {
        "attachments": copy.deepcopy(task.attachments),
        "availabilityZone": getattr(task, "availability_zone", None),
        "clusterArn": task.cluster_arn,
        "containers": containers,
        "cpu": getattr(task, "cpu", None),
        "memory": getattr(task, "memory", None),
        "createdAt": _iso(getattr(task, "created_at", None)),
        "desiredStatus": task.desired_status,
        "group": task.group,
        "launchType": task.launch_type,
        "lastStatus": task.last_status,
        "overrides": copy.deepcopy(task.overrides),
        "startedBy": task.started_by,
        "stopCode": getattr(task, "stop_code", None),
        "stoppedAt": _iso(getattr(task, "stopped_at", None)),
        "stoppedReason": task.stopped_reason,
        "taskArn": task.task_arn,
        "taskDefinitionArn": task.task_definition_arn,
        "updatedAt": event_time(),
        "version": 3,
    }
    return aws_event(
        "aws.ecs", "ECS Task State Change", detail, [task.task_arn], region, account_id
    )


# --- input: Input, InputPath, InputTransformer ----------------------------------------------


_MISSING = object()


def json_path(document: Any, path: str) -> Any:
    """The value at a simple JSONPath (``$``, ``.key``, ``['key']``, ``[n]``), or missing."""
    if not path.startswith("$"):
        raise DeliveryError(f"not a JSONPath: {path!r}")
    value = document
    for key, quoted, index in re.findall(r"\.([^.\[\]]+)|\['([^']*)'\]|\[(\d+)\]", path[1:]):
        if index:
            if not isinstance(value, list) or int(index) >= len(value):
                return _MISSING
            value = value[int(index)]
            continue
        name = key or quoted
        if not isinstance(value, dict) or name not in value:
            return _MISSING
        value = value[name]
    return value


def _inside_string(template: str, position: int) -> bool:
    """Whether ``position`` of a JSON-ish template lies inside a string literal."""
    inside = escaped = False
    for character in template[:position]:
        if escaped:
            escaped = False
        elif character == "\\":
            escaped = True
        elif character == '"':
            inside = not inside
    return inside


def transform_input(
    transformer: Mapping[str, Any], event: Mapping[str, Any], rule_name: str, rule_arn: str
) -> str:
    """An InputTransformer's output for ``event``, as EventBridge builds it.

    In a JSON object template, a placeholder inside a string takes the value's text, and
    elsewhere the value as JSON (a string gets quotes; a path that matches nothing gives
    ``null``). In any other template every placeholder takes the value's text.
    """
    values: dict[str, Any] = {
        name: json_path(event, str(path))
        for name, path in (transformer.get("InputPathsMap") or {}).items()
    }
    values.update(
        {
            "aws.events.rule-arn": rule_arn,
            "aws.events.rule-name": rule_name,
            "aws.events.event.ingestion-time": event.get("time"),
            "aws.events.event": {k: v for k, v in event.items() if k != "detail"},
            "aws.events.event.json": dict(event),
        }
    )
    template = str(transformer.get("InputTemplate", ""))
    json_object = template.lstrip().startswith("{")

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            return match.group(0)
        value = values[name]
        if not json_object:
            if value is _MISSING or value is None:
                return ""
            return value if isinstance(value, str) else json.dumps(value)
        if _inside_string(template, match.start()):
            if value is _MISSING or value is None:
                return ""
            text = value if isinstance(value, str) else json.dumps(value)
            return json.dumps(text)[1:-1]
        return "null" if value is _MISSING else json.dumps(value)

    return _PLACEHOLDER.sub(replace, template)


def target_input(
    target: Mapping[str, Any], event: Mapping[str, Any], rule_name: str, rule_arn: str
) -> str:
    """What ``target`` receives for ``event``: its Input, InputPath or InputTransformer."""
    if "Input" in target and target["Input"] is not None:
        return str(target["Input"])
    if target.get("InputPath"):
        value = json_path(event, str(target["InputPath"]))
        return "null" if value is _MISSING else json.dumps(value)
    if target.get("InputTransformer"):
        return transform_input(target["InputTransformer"], event, rule_name, rule_arn)
    return json.dumps(event)


# --- matching -------------------------------------------------------------------------------


def rule_matches(rule: Any, event: Mapping[str, Any]) -> bool:
    """Whether moto's ``rule`` matches ``event`` (ENABLED, with a pattern that matches it)."""
    if str(rule.state).upper() != "ENABLED":
        return False
    if not rule.event_pattern.get_pattern():
        return False  # a schedule-only rule matches no event (moto: every event)
    return bool(rule.event_pattern.matches_event(dict(event)))


# --- the bus --------------------------------------------------------------------------------


@dataclass
class _Job:
    event: dict[str, Any]
    bus_name: str
    #: Deliver to this rule only, whatever its pattern (a schedule firing).
    rule_name: str | None = None
    done: threading.Event = field(default_factory=threading.Event)
    deliveries: list[EventDelivery] = field(default_factory=list)


class EventBus:
    """Events of one local AWS, matched against moto's rules and delivered on a worker."""

    def __init__(self, region: str, account_id: str) -> None:
        self.region = region
        self.account_id = account_id
        #: Every delivery attempt so far, oldest first.
        self.delivered: list[EventDelivery] = []
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._lock = threading.Lock()
        self._busy = threading.Condition(self._lock)
        self._pending = 0
        self._closed = True
        self._worker: threading.Thread | None = None
        self._clients: dict[str, Any] = {}
        self._client_factory: ClientFactory | None = None
        self._events_backend: Callable[[], Any] = _not_open
        self._names: dict[str, int] = {}

    # --- lifecycle ----------------------------------------------------------------------------

    def open(self, client_factory: ClientFactory, events_backend: Callable[[], Any]) -> None:
        """Start delivering; ``client_factory(service)`` makes the worker's own clients,
        ``events_backend()`` is moto's EventBridge (its buses and rules)."""
        with self._lock:
            self._client_factory = client_factory
            self._events_backend = events_backend
            self._clients.clear()
            self._closed = False
        self._worker = threading.Thread(target=self._work, name="local-eventbridge", daemon=True)
        self._worker.start()

    def close(self, timeout: float = WAIT_SECONDS) -> None:
        """Stop accepting events; let the delivery in progress finish (drop queued ones).

        RuntimeError if it is still going ``timeout`` seconds on."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        while True:  # what is queued is dropped: nothing new may start as the AWS stops
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                self._finish(job)
        self._queue.put(None)
        worker, self._worker = self._worker, None
        if worker is not None:
            join(worker, "the EventBridge delivery in progress", timeout)

    # --- putting events -----------------------------------------------------------------------

    def put(
        self, event: dict[str, Any], bus_name: str = "default", *, reserved: bool = False
    ) -> None:
        """Put one event on a bus: the worker matches and delivers it.

        ``reserved``: the put was announced with :meth:`reserve` (and counts as pending
        since then).
        """
        self._enqueue(_Job(event, bus_name), reserved=reserved)

    def reserve(self) -> bool:
        """Announce an event about to be put: :meth:`wait_until_idle` waits for it from now.

        For an event about a change others can observe before it is put (an execution's
        end): follow with ``put(..., reserved=True)``, or :meth:`release` if none comes.
        """
        with self._lock:
            if self._closed:
                return False
            self._pending += 1
            return True

    def release(self) -> None:
        """Withdraw a :meth:`reserve`."""
        with self._busy:
            self._pending -= 1
            self._busy.notify_all()

    def fire_schedule(self, rule_name: str, timeout: float = WAIT_SECONDS) -> list[EventDelivery]:
        """Fire a schedule rule now, as its schedule would; the deliveries it made.

        Waits until they are made (not until a started execution ends). A DISABLED rule
        delivers nothing, as on AWS.
        """
        rule = self._rule(rule_name)
        if not rule.scheduled_expression:
            raise ValueError(f"rule {rule_name!r} has no schedule")
        event = aws_event(
            "aws.events", _SCHEDULED_EVENT, {}, [rule.arn], self.region, self.account_id
        )
        job = _Job(event, rule.event_bus_name, rule_name=rule.name)
        self._enqueue(job)
        if not job.done.wait(timeout):
            raise TimeoutError(f"rule {rule_name!r} was not delivered within {timeout}s")
        return list(job.deliveries)

    def wait_until_idle(self, timeout: float = WAIT_SECONDS) -> None:
        """Wait until every event put so far has been delivered (TimeoutError if not)."""
        deadline = time.monotonic() + timeout
        with self._busy:
            while self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{self._pending} event(s) still being delivered")
                self._busy.wait(remaining)

    def wait_for_delivery(
        self, predicate: Callable[[EventDelivery], bool], timeout: float = WAIT_SECONDS
    ) -> EventDelivery:
        """The first delivery ``predicate`` accepts, waiting for it up to ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._busy:
            while True:
                found = next((d for d in self.delivered if predicate(d)), None)
                if found is not None:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    made = ", ".join(f"{d.rule_name}→{d.target_id}" for d in self.delivered)
                    raise TimeoutError(
                        f"no such delivery within {timeout}s (made: {made or 'none'})"
                    )
                self._busy.wait(remaining)

    def _enqueue(self, job: _Job, reserved: bool = False) -> None:
        with self._busy:
            if self._closed:
                if reserved:
                    self._pending -= 1
                    self._busy.notify_all()
                job.done.set()
                return
            if not reserved:
                self._pending += 1
        self._queue.put(job)

    def _finish(self, job: _Job) -> None:
        with self._busy:
            self._pending -= 1
            self._busy.notify_all()
        job.done.set()

    # --- the worker ---------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            try:
                self._deliver_job(job)
            finally:
                self._finish(job)

    def _rule(self, rule_name: str, bus_name: str = "default") -> Any:
        bus = self._events_backend().event_buses.get(bus_name)
        rule = bus.rules.get(rule_name) if bus is not None else None
        if rule is None:
            raise KeyError(f"no rule {rule_name!r} on event bus {bus_name!r}")
        return rule

    def _deliver_job(self, job: _Job) -> None:
        if job.rule_name is not None:
            rule = self._rule(job.rule_name, job.bus_name)
            rules = [rule] if str(rule.state).upper() == "ENABLED" else []
        else:
            bus = self._events_backend().event_buses.get(job.bus_name)
            candidates = list(bus.rules.values()) if bus is not None else []
            rules = [rule for rule in candidates if rule_matches(rule, job.event)]
        for rule in rules:
            for target in list(rule.targets):
                delivery = self._deliver(rule, target, job.event)
                job.deliveries.append(delivery)
                with self._busy:
                    self.delivered.append(delivery)
                    self._busy.notify_all()

    def _client(self, service: str) -> Any:
        if service not in self._clients:
            if self._client_factory is None:
                raise RuntimeError("the event bus is not open")
            self._clients[service] = self._client_factory(service)
        return self._clients[service]

    def _deliver(
        self, rule: Any, target: Mapping[str, Any], event: dict[str, Any]
    ) -> EventDelivery:
        arn = str(target["Arn"])
        common = {
            "rule_name": rule.name,
            "rule_arn": rule.arn,
            "target_id": str(target.get("Id", "")),
            "target_arn": arn,
            "event": event,
        }
        try:
            payload = target_input(target, event, rule.name, rule.arn)
        except DeliveryError as error:
            return EventDelivery(**common, input="", outcome="failed", error=str(error))
        service = arn.split(":")[2] if arn.count(":") >= 5 else ""
        try:
            if service == "states":
                result = self._start_execution(rule, target, event, payload)
            elif service == "lambda":
                function_error, result = self._invoke(rule, arn, payload)
                if function_error:
                    return EventDelivery(
                        **common,
                        input=payload,
                        outcome="failed",
                        result=result,
                        error=f"the function answered with an error ({function_error})",
                    )
            else:
                self._deliver_with_moto(rule, target, event)
                result = None
        except Exception as error:  # noqa: BLE001 - recorded, as EventBridge records failures
            return EventDelivery(
                **common, input=payload, outcome="failed", error=f"{type(error).__name__}: {error}"
            )
        return EventDelivery(**common, input=payload, outcome="delivered", result=result)

    def _start_execution(
        self, rule: Any, target: Mapping[str, Any], event: Mapping[str, Any], payload: str
    ) -> str:
        machine_arn = str(target["Arn"])
        detail = event.get("detail") or {}
        base = str(detail.get("name") or rule.name) if isinstance(detail, Mapping) else rule.name
        name = self._execution_name(base, machine_arn.rsplit(":", 1)[-1])
        principal = Principal("rule target", rule.name, target.get("RoleArn"), rule.arn)
        with acting_as(principal):
            started = self._client("stepfunctions").start_execution(
                stateMachineArn=machine_arn, name=name, input=payload
            )
        return str(started["executionArn"])

    def _execution_name(self, base: str, machine_name: str) -> str:
        word = _NAME_CHARACTERS.sub("-", machine_name.rsplit("-", 1)[-1]) or "execution"
        stem = _NAME_CHARACTERS.sub("-", base)
        key = f"{stem}-{word}"
        with self._lock:
            self._names[key] = self._names.get(key, 0) + 1
            number = self._names[key]
        suffix = f"-{word}-{number}"
        return f"{stem[: _MAX_EXECUTION_NAME - len(suffix)]}{suffix}"

    def _invoke(self, rule: Any, function_arn: str, payload: str) -> tuple[str | None, str]:
        principal = Principal("service", _EVENTS_PRINCIPAL, None, rule.arn)
        with acting_as(principal):
            answer = self._client("lambda").invoke(FunctionName=function_arn, Payload=payload)
        body = answer["Payload"].read().decode("utf-8")
        return answer.get("FunctionError"), body

    @staticmethod
    def _deliver_with_moto(rule: Any, target: Mapping[str, Any], event: dict[str, Any]) -> None:
        """Targets moto delivers itself (logs, SQS, archives, other buses): this one only."""
        single = copy.copy(rule)
        single.targets = [dict(target)]
        single.send_to_targets(copy.deepcopy(event))


def _not_open() -> Any:
    raise RuntimeError("the event bus is not open")

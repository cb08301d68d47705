"""CloudWatch Logs in the local AWS: tasks' awslogs output, and subscription filters that filter.

Gaps filled (moto 5.2.5):

* ECS runs no log driver: nothing a task writes reaches CloudWatch Logs. Here a task whose
  (first) container logs with ``awslogs`` has its output put to the driver's group and
  stream (``bastion.local.awslogs``); a group that does not exist stops the task before
  it runs (``ResourceInitializationError``), unless ``awslogs-create-group`` is ``true``.
* PutLogEvents hands every event to every subscription filter of the group, whatever the
  filter's pattern (JSON patterns are evaluated nowhere: they match every event). Here
  a filter gets the events its pattern matches (``bastion.local.filter_patterns``), and
  nothing when none does; PutSubscriptionFilter refuses a pattern the local AWS cannot
  evaluate (InvalidParameterException), rather than let it match everything.
* A Lambda destination is invoked inside PutLogEvents, in the putting thread, by nobody,
  with numeric event ids. Here the delivery is queued (``bastion.local.log_subscriptions``)
  and made afterwards as ``logs.amazonaws.com``, with ids as strings, as AWS sends them.

Arming one: ``PutSubscriptionFilter`` with a Lambda destination (a test's own logs client),
or in the deployed template an ``AWS::Logs::SubscriptionFilter``, or a SAM function's
``CloudWatchLogs`` event (which adds the ``logs.amazonaws.com`` permission). Then
``LocalAws.log_deliveries.wait_for_delivery(predicate)`` waits for a delivery, and
``LocalAws.log_deliveries_made`` lists every attempt with its outcome.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from bastion.local.active import Controls, current
from bastion.local.awslogs import FixedOutput, LogDestination, LogLine, PutLines
from bastion.local.filter_patterns import UnsupportedFilterPattern, compile_filter_pattern
from bastion.local.patching import replace_attribute
from tasks.common.log_subscription import (
    DATA_MESSAGE,
    LogEvent,
    LogSubscriptionMessage,
    log_stream_name,
)

#: What Fargate says when the awslogs driver's group does not exist.
MISSING_LOG_GROUP = (
    "ResourceInitializationError: failed to validate logger args: create stream has been "
    "retried 1 times: failed to create Cloudwatch log stream: ResourceNotFoundException: "
    "The specified log group does not exist. : exit status 1"
)


def logs_backend(account_id: str, region: str) -> Any:
    """moto's CloudWatch Logs backend."""
    from moto.logs.models import logs_backends

    return logs_backends[account_id][region]


def log_group_source_arn(region: str, account_id: str, group: str) -> str:
    """The log group's ARN as CloudWatch Logs presents it when invoking (``aws:SourceArn``)."""
    return f"arn:aws:logs:{region}:{account_id}:log-group:{group}:*"


#: The driver's puts, one at a time: moto's stream and event ids are not thread-safe.
_PUT_LOCK = threading.Lock()


def put_lines(account_id: str, region: str) -> PutLines:
    """The awslogs driver's put: the stream made if need be, one event per line, in order."""

    def put(destination: LogDestination, lines: list[LogLine]) -> None:
        backend = logs_backend(account_id, region)
        events = [{"timestamp": line.timestamp, "message": line.message} for line in lines]
        with _PUT_LOCK:
            backend.ensure_log_stream(destination.group, destination.stream)
            backend.put_log_events(destination.group, destination.stream, events)

    return put


# --- the awslogs driver's part in a task's life ------------------------------------------


def awslogs_destination(task_definition: Any, task_arn: str) -> tuple[LogDestination, bool] | None:
    """Where the awslogs driver puts the task's output, and whether it may create the group;
    None when the task's container does not log with awslogs."""
    containers = getattr(task_definition, "container_definitions", None) or []
    if not containers:
        return None
    container = containers[0]
    config = container.get("logConfiguration") or {}
    options = config.get("options") or {}
    if config.get("logDriver") != "awslogs" or not options.get("awslogs-group"):
        return None
    task_id = task_arn.rsplit("/", 1)[-1]
    prefix = options.get("awslogs-stream-prefix")
    stream = log_stream_name(prefix, str(container.get("name")), task_id) if prefix else task_id
    create_group = str(options.get("awslogs-create-group", "")).lower() == "true"
    return LogDestination(str(options["awslogs-group"]), stream), create_group


def awslogs_start_failure(controls: Controls, task_definition: Any, task_arn: str) -> str | None:
    """Why the task cannot start because of its log driver, or None (the group is made if
    the driver may create it)."""
    found = awslogs_destination(task_definition, task_arn)
    if found is None:
        return None
    destination, create_group = found
    backend = logs_backend(controls.account_id, controls.region)
    if destination.group in backend.groups:
        return None
    if create_group:
        backend.create_log_group(destination.group, {})
        return None
    return MISSING_LOG_GROUP


def attach_task_logs(controls: Controls, task: Any, task_definition: Any) -> None:
    """The started task's output goes to CloudWatch Logs once RunTask returns: the file its
    bastion writes, or for a simulated task the bastion's started line."""
    task_arn = str(task.task_arn)
    found = awslogs_destination(task_definition, task_arn)
    if found is None:
        return
    runner = controls.ecs.task_runner
    output = runner.output(task_arn) if runner is not None else _simulated_output(controls, task)
    if output is not None:
        controls.awslogs.attach(task_arn, found[0], output)


def _simulated_output(controls: Controls, task: Any) -> FixedOutput:
    from bastion.local.simulated_bastion import event_line, has_session_environment, started_event
    from bastion.local.task_runner import task_environment

    environment = task_environment(task)
    if not has_session_environment(environment):
        return FixedOutput(())  # no bastion session: the simulated container says nothing
    event = started_event(environment, region=controls.region)
    instead = controls.ecs.take_simulated_output()
    if instead is not None:
        return FixedOutput(instead(event))
    return FixedOutput((event_line(event),))


def begin_task_logs(controls: Controls, tasks: Iterable[Any]) -> None:
    """RunTask returned these tasks: their output starts reaching CloudWatch Logs."""
    for task in tasks:
        controls.awslogs.begin(str(task.task_arn), running=task.last_status == "RUNNING")


# --- subscription filters ------------------------------------------------------------------


def _put_subscription_filter(original: Any) -> Any:
    from moto.logs.exceptions import InvalidParameterException

    def put_subscription_filter(
        self: Any, filter_name: str, filter_pattern: str, destination_arn: str, role_arn: str
    ) -> None:
        if current() is not None:
            try:
                compile_filter_pattern(filter_pattern)
            except UnsupportedFilterPattern as error:
                raise InvalidParameterException(str(error)) from None
        original(self, filter_name, filter_pattern, destination_arn, role_arn)

    return put_subscription_filter


def _send_log_events(original: Any) -> Any:
    def send_log_events(
        self: Any,
        service: str,
        destination_arn: str,
        filter_name: str,
        log_events: list[dict[str, Any]],
    ) -> None:
        controls = current()
        if controls is None:
            return original(self, service, destination_arn, filter_name, log_events)
        subscription = self.log_group.subscription_filters.get(filter_name)
        matches = compile_filter_pattern(subscription.filter_pattern if subscription else "")
        matching = [
            {**event, "id": f"{int(event['id']):056d}"}
            for event in log_events
            if matches(str(event["message"]))
        ]
        if not matching:
            return None
        if service != "lambda":
            return original(self, service, destination_arn, filter_name, matching)
        message = LogSubscriptionMessage(
            message_type=DATA_MESSAGE,
            owner=self.account_id,
            log_group=self.log_group.name,
            log_stream=self.log_stream_name,
            subscription_filters=(filter_name,),
            log_events=tuple(
                LogEvent(e["id"], int(e["timestamp"]), str(e["message"])) for e in matching
            ),
        )
        source = log_group_source_arn(self.region, self.account_id, self.log_group.name)
        controls.log_deliveries.deliver(destination_arn, message, source)
        return None

    return send_log_events


def install() -> None:
    """Make subscription filters filter, and deliver to Lambda as CloudWatch Logs does."""
    from moto.logs.models import LogGroup, LogStream

    replace_attribute(LogGroup, "put_subscription_filter", _put_subscription_filter)
    replace_attribute(LogStream, "_send_log_events", _send_log_events)

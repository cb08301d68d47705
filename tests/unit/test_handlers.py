"""What every task handler shares: throttling becomes AwsThrottled, logs carry the session."""

from __future__ import annotations

import importlib
import io
import json
from pathlib import Path

import pytest

from tasks.common.errors import TASK_ERROR_NAMES, AwsThrottled, AwsUnavailable
from tasks.common.settings import Settings
from tests.unit.support import (
    EVENTS,
    PARAMETER_PREFIX,
    LambdaContextStub,
    failing_client,
    load_event,
)

pytestmark = pytest.mark.unit

#: The workflow's tasks; the API (tasks/api*.py, events api_*.json) answers HTTP instead.
TASK_MODULES = sorted(
    path.stem for path in EVENTS.glob("*.json") if not path.stem.startswith("api_")
)
#: The tasks that call AWS (ExtendSession reads only its input and the clock).
AWS_CALLING_MODULES = [name for name in TASK_MODULES if name != "extend_session"]


def test_every_task_module_has_an_event_file() -> None:
    modules = sorted(
        path.stem
        for path in (Path(__file__).resolve().parents[2] / "tasks").glob("*.py")
        if path.stem != "__init__" and not path.stem.startswith("api")
    )
    assert modules == TASK_MODULES
    assert len(TASK_MODULES) == 16


@pytest.mark.parametrize("module_name", AWS_CALLING_MODULES)
def test_aws_throttling_is_aws_throttled(
    module_name: str,
    settings_env: Settings,
    monkeypatch: pytest.MonkeyPatch,
    context: LambdaContextStub,
) -> None:
    # GIVEN AWS throttling every call the task makes
    module = importlib.import_module(f"tasks.{module_name}")
    monkeypatch.setattr(module, "client", lambda service: failing_client(service))
    # WHEN the handler runs on its event
    with pytest.raises(AwsThrottled) as raised:
        module.handler(load_event(module_name), context)
    # THEN the error is the one the state machines retry with jitter
    assert "ThrottlingException" in str(raised.value)


@pytest.mark.parametrize("module_name", AWS_CALLING_MODULES)
def test_aws_server_errors_are_aws_unavailable(
    module_name: str,
    settings_env: Settings,
    monkeypatch: pytest.MonkeyPatch,
    context: LambdaContextStub,
) -> None:
    # GIVEN AWS failing every call the task makes on its side (HTTP 503)
    module = importlib.import_module(f"tasks.{module_name}")
    monkeypatch.setattr(
        module,
        "client",
        lambda service: failing_client(service, code="ServiceUnavailable", status=503),
    )
    # WHEN the handler runs on its event
    with pytest.raises(AwsUnavailable) as raised:
        module.handler(load_event(module_name), context)
    # THEN the error is the transient one the state machines retry with jitter
    assert "ServiceUnavailable" in str(raised.value)


def test_an_aws_refusal_is_not_made_transient(
    settings_env: Settings, monkeypatch: pytest.MonkeyPatch, context: LambdaContextStub
) -> None:
    from botocore.exceptions import ClientError

    module = importlib.import_module("tasks.create_session_security_group")
    monkeypatch.setattr(
        module, "client", lambda service: failing_client(service, code="UnauthorizedOperation")
    )
    # An AWS refusal is final: it stays a ClientError, which no workflow retries.
    with pytest.raises(ClientError, match="UnauthorizedOperation"):
        module.handler(load_event("create_session_security_group"), context)


def test_log_lines_are_structured_and_carry_the_session_id(
    mocked_aws: None, context: LambdaContextStub
) -> None:
    from tasks.common.observability import logger
    from tasks.hold_session import handler

    # GIVEN the function's log stream captured
    stream = io.StringIO()
    previous = logger.registered_handler.setStream(stream)
    try:
        # WHEN a handler runs
        handler(load_event("hold_session"), context)
    finally:
        logger.registered_handler.setStream(previous)
    # THEN its lines are JSON, keyed by the session id, with the mutation's details
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line]
    (stored,) = [line for line in lines if line["message"] == "stored the session's task token"]
    assert stored["correlation_id"] == "s-0001"
    assert stored["parameterName"] == f"{PARAMETER_PREFIX}/s-0001"
    assert stored["level"] == "INFO"
    assert stored["service"] == "fargate-bastion"


def test_the_quota_error_is_part_of_the_vocabulary() -> None:
    assert "ControlPlaneRuleQuotaReached" in TASK_ERROR_NAMES
    assert {"InvalidRequest", "BastionNotReady", "SessionSecurityGroupInUse"} <= TASK_ERROR_NAMES

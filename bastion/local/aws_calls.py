"""Every AWS API call moto answers passes here first: its IAM actions are recorded, then
an armed or drawn fault may answer it instead (:mod:`bastion.local.faults`,
:mod:`bastion.local.random_faults`), and a task token's output may be edited."""

from __future__ import annotations

import json
import time
import warnings
from types import SimpleNamespace
from typing import Any

from moto.core.exceptions import ServiceException

from bastion.local.actions import acting_principal
from bastion.local.active import current
from bastion.local.iam_actions import record_call
from bastion.local.lambda_runtime import answers_to
from bastion.local.patching import replace_attribute
from bastion.local.random_faults import current_scope, session_of


class InjectedServiceError(ServiceException):
    """The error an armed AWS-call fault answers with.

    Defined outside moto's packages on purpose: moto looks up an error model for moto's own
    exceptions by their package, and has none for an arbitrary injected code.
    """


def _call_action(original: Any) -> Any:
    from moto.core.responses import ActionResult

    def call_action(self: Any) -> Any:
        controls = current()
        if controls is None:
            return original(self)
        # AWS authorizes a call before it runs (or fails): record what it needs first.
        record_call(controls.actions, self, controls.region, controls.account_id)
        service, action = self.boto3_service_name, self._get_action()
        fault = controls.faults.take_aws_call_fault(service, action)
        if fault is not None:
            return _error_answer(self, ActionResult, fault.code, fault.message, None)
        drawn = controls.random_faults.call_fault(service, action, _session_of_call(self))
        if drawn is not None and drawn.code is not None:
            message = f"injected {drawn.kind}"
            return _error_answer(self, ActionResult, drawn.code, message, drawn.status)
        if drawn is not None:
            time.sleep(drawn.latency_seconds)
        if (service, action) == ("stepfunctions", "SendTaskSuccess"):
            _edit_task_output(controls, self)
        return original(self)

    return call_action


def _edit_task_output(controls: Any, response: Any) -> None:
    """A function answering a task token answers for its state: a result edit armed for
    the function (Faults.drop_result_field) changes the output it sends."""
    principal = acting_principal()
    if principal is None or principal.kind != "function":
        return
    caller = SimpleNamespace(function_name=principal.name, function_arn="", tags={})
    edit = controls.faults.take_result_edit(
        lambda target: answers_to(caller, target), current_scope()
    )
    if edit is None:
        return
    body = json.loads(response.body)
    output = json.loads(body["output"])
    if isinstance(output, dict):
        body["output"] = json.dumps(edit.apply(output))
    response.body = json.dumps(body)
    if getattr(response, "automated_parameter_parsing", False):
        response.params["output"] = body["output"]


def _session_of_call(response: Any) -> str | None:
    """The session a call is made for: the calling handler's, or an Invoke payload's."""
    session_id = current_scope()
    if session_id is None and response._get_action() == "Invoke":
        session_id = session_of(response.body)
    return session_id


def _error_answer(
    response: Any, action_result: Any, code: str, message: str, status: int | None
) -> Any:
    # Serialized by moto's own error path, so the protocol (query/XML, JSON, REST) is right.
    serialized_status, headers, body = response.serialized(
        action_result(InjectedServiceError(code, message))
    )
    answer_status = serialized_status if status is None else status
    headers["status"] = str(answer_status)
    # Like every moto answer: a request id (Step Functions reads it from Lambda errors).
    headers, body = response._enrich_response(headers, body)
    return answer_status, headers, body


def install() -> None:
    """Route every moto API call through the AWS-call faults first (and the action record)."""
    from moto.core.responses import BaseResponse

    # An injected code that is not in the service's model (ThrottlingException for ECS) is
    # still serialized right; moto warns about each one.
    warnings.filterwarnings(
        "ignore", message=r".*does not match an error shape", category=UserWarning
    )
    replace_attribute(BaseResponse, "call_action", _call_action)

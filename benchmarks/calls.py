"""AWS API calls by caller and action, from the local AWS's record of actions.

The local AWS records every AWS call a Lambda function, a state machine or an EventBridge
target makes, as the IAM action it needs, plus the actions AWS authorizes implicitly for it
(``ec2:CreateTags`` for a CreateSecurityGroup with tags, ``iam:PassRole`` for RunTask...).
Each call has exactly one record of its own action; the implied ones are told apart by an
action name that is not the call's operation. The benchmark's own calls act for nobody and
are not in the record.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

STEP_FUNCTIONS = "Step Functions"
EVENTBRIDGE = "EventBridge"
CLOUDWATCH_LOGS = "CloudWatch Logs"
#: The service principal CloudWatch Logs delivers a subscription filter's events as.
LOGS_SERVICE = "logs.amazonaws.com"


@dataclass(frozen=True)
class ApiCall:
    """One kind of API call: who made it, which ``service:Operation``."""

    caller: str
    call: str


def is_own_action(action: str, call: str) -> bool:
    """Whether IAM ``action`` is the call's own (not one it implies).

    ``lambda:Invoke`` needs ``lambda:InvokeFunction``; elsewhere the IAM action is named
    after the operation (``ec2:RunInstances``), with the ``states`` prefix for Step Functions.
    """
    operation = call.partition(":")[2]
    return action.partition(":")[2].startswith(operation)


def caller_label(principal: Any, label_function: Callable[[str], str]) -> str:
    """A readable name for the principal a record acted as."""
    kind = str(getattr(principal, "kind", ""))
    name = str(getattr(principal, "name", ""))
    if kind == "function":
        return label_function(name)
    if kind == "state machine":
        return STEP_FUNCTIONS
    if kind == "service" and name == LOGS_SERVICE:
        return CLOUDWATCH_LOGS
    if kind in ("service", "rule target"):
        return EVENTBRIDGE
    return f"{kind} {name}".strip()


@dataclass(frozen=True)
class CallTally:
    """Calls and implied IAM actions, counted per caller."""

    calls: Counter[ApiCall]
    implied: Counter[tuple[ApiCall, str]]


def tally(records: Iterable[Any], label_function: Callable[[str], str]) -> CallTally:
    """Count ``records`` (the local AWS's recorded actions) into calls and implied actions."""
    calls: Counter[ApiCall] = Counter()
    implied: Counter[tuple[ApiCall, str]] = Counter()
    for record in records:
        call = ApiCall(caller_label(record.principal, label_function), str(record.call))
        if is_own_action(str(record.action), call.call):
            calls[call] += 1
        else:
            implied[(call, str(record.action))] += 1
    return CallTally(calls, implied)

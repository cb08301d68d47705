"""Who did what in the local AWS: every AWS action, the principal it acted as, the resources.

The patches say who is acting in the current thread (:func:`acting_as`): a Lambda function
while its handler runs (its execution role), a state machine while it invokes a function
(its role), an EventBridge rule delivering to a target (the target's role, or the
``events.amazonaws.com`` service principal for a Lambda target). Every AWS API call made
meanwhile is recorded as the IAM action it needs (``ec2:CreateSecurityGroup``), with the
resource ARNs IAM authorizes it on where they follow from the request, and the actions AWS
also authorizes implicitly (``ec2:CreateTags`` for ``TagSpecifications``, ``iam:PassRole``
for the roles of a task definition RunTask starts...). Calls nobody acts for (a test's own
calls, the deployment) are not recorded.

:mod:`bastion.local.iam_actions` turns a call into the actions it needs.
``tests/workflow/test_iam.py`` checks the record against the policies the template grants.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

_local = threading.local()


@dataclass(frozen=True)
class Principal:
    """Who acts: ``kind`` is ``function``, ``state machine``, ``rule target`` or ``service``."""

    kind: str
    name: str
    #: The IAM role whose policies must allow the actions (None for a service principal).
    role_arn: str | None
    #: For a service principal: the ARN of the resource it acts for (an EventBridge rule).
    source_arn: str | None = None


@dataclass(frozen=True)
class RecordedAction:
    """One IAM action a principal needed."""

    principal: Principal
    #: ``service:Action`` as IAM spells it.
    action: str
    #: The ARNs IAM authorizes the action on; ``("*",)`` for actions without resource-level
    #: permissions; ``()`` when the request does not say (the action alone is checked).
    resources: tuple[str, ...]
    #: The API call this action was needed for (itself, or the call that implied it).
    call: str
    #: The tags of the resources, as they were when the call was authorized: what IAM's
    #: ``aws:ResourceTag`` / ``ec2:ResourceTag`` conditions read. Security groups and ECS
    #: tasks only; a resource absent here has no tags known.
    resource_tags: Mapping[str, Mapping[str, str]] = field(
        default_factory=dict, compare=False, hash=False
    )


@contextmanager
def acting_as(principal: Principal) -> Iterator[None]:
    """AWS calls made by this thread meanwhile are ``principal``'s."""
    stack: list[Principal] = getattr(_local, "stack", None) or []
    _local.stack = [*stack, principal]
    try:
        yield
    finally:
        _local.stack = stack


def acting_principal() -> Principal | None:
    """Who the current thread acts as, if anyone."""
    stack: list[Principal] = getattr(_local, "stack", None) or []
    return stack[-1] if stack else None


class ActionLog:
    """Every action recorded in one local AWS, oldest first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._actions: list[RecordedAction] = []

    def add(self, action: RecordedAction) -> None:
        """Record one action."""
        with self._lock:
            self._actions.append(action)

    @property
    def actions(self) -> list[RecordedAction]:
        """A copy of the record."""
        with self._lock:
            return list(self._actions)

    def clear(self) -> None:
        """Forget everything recorded so far."""
        with self._lock:
            self._actions.clear()

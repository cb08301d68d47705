"""The ``sweeper`` state machine: the last line of defence, on a schedule.

FindOrphanedSessions lists the sessions that own tagged resources but whose session
execution is no longer running (or is past its expiry plus a grace period); each is
torn down by the same teardown chain as everywhere else.
"""

from __future__ import annotations

from workflows.asl import Catch, Fail, Map, StateMachine, Succeed
from workflows.lambda_tasks import lambda_task
from workflows.teardown import teardown_chain

#: Sessions torn down at once: each teardown makes a handful of EC2 and ECS calls,
#: far below their throttling rates at this concurrency.
SWEEP_CONCURRENCY = 5


def sweeper_machine() -> StateMachine:
    """Find orphaned sessions and tear each one down."""
    return StateMachine(
        comment="fargate-bastion sweeper: tear down what sessions that ended left behind",
        states=[
            lambda_task(
                "FindOrphanedSessions",
                {"sessionId.$": "$$.Execution.Name", "sweepStartedAt.$": "$$.Execution.StartTime"},
                "$.orphans",
                comment="Find sessions whose resources outlived them.",
                next_state="TearDownOrphanedSessions",
            ),
            Map(
                name="TearDownOrphanedSessions",
                comment="The teardown chain, once for each orphaned session.",
                items_path="$.orphans.sessionIds",
                item_selector={"sessionId.$": "$$.Map.Item.Value"},
                max_concurrency=SWEEP_CONCURRENCY,
                processor=teardown_chain("$.sessionId", then="SessionSwept")
                + [Succeed(name="SessionSwept", comment="Nothing of this session is left.")],
                result_path="$.swept",
                catch=(Catch(("States.ALL",), next="SweepIncomplete", result_path="$.error"),),
                next="SweepComplete",
            ),
            Fail(
                name="SweepIncomplete",
                comment="A session could not be torn down; the next sweep retries it.",
                error="SweepIncomplete",
                cause_path="$.error.Cause",
            ),
            Succeed(name="SweepComplete", comment="Every orphaned session is torn down."),
        ],
    )

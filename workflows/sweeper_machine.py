"""The ``sweeper`` state machine: the last line of defence, on a schedule.

FindOrphanedSessions lists the sessions that own tagged resources but whose session
execution is no longer running (or is past its expiry plus a grace period); each is
torn down by the same teardown chain as everywhere else.

Each orphan's teardown is on its own. An inline Map fails as a whole, stopping every
iteration still running and starting none of the rest, as soon as one iteration fails;
so an iteration never fails: it ends with its session's outcome, ``{"swept": id}`` or
``{"notSwept": id, "error": ...}``, and only once every orphan has had its teardown does
the sweep end ``SweepIncomplete``, naming the sessions the next sweep retries.
"""

from __future__ import annotations

from workflows.asl import Choice, Fail, Map, Pass, Rule, StateMachine, Succeed, is_present
from workflows.lambda_tasks import lambda_task
from workflows.teardown import TEARDOWN_FAILURE_PATH, teardown_chain

SWEEP_INCOMPLETE = "SweepIncomplete"
#: Sessions torn down at once: each teardown makes a handful of EC2 and ECS calls,
#: far below their throttling rates at this concurrency.
SWEEP_CONCURRENCY = 5

#: The orphaned sessions' ids, in FindOrphanedSessions's result.
ORPHANS_PATH = "$.orphans.sessionIds"
#: Where the Map puts its iterations' outcomes, one per orphaned session.
TEARDOWNS_PATH = "$.teardowns"
#: The sessions whose teardown was incomplete: a list, empty when none was.
NOT_SWEPT_PATH = "$.sweep.notSwept"


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
                next_state="AreOrphansListed",
            ),
            Choice(
                name="AreOrphansListed",
                comment="FindOrphanedSessions must answer with the list of sessions.",
                rules=(Rule(is_present(ORPHANS_PATH), next="TearDownOrphanedSessions"),),
                default="OrphansNotListed",
            ),
            Fail(
                name="OrphansNotListed",
                comment="Nothing was torn down; the next sweep looks again.",
                error=SWEEP_INCOMPLETE,
                cause=(
                    "FindOrphanedSessions answered without sessionIds: nothing was torn down; "
                    "the next sweep looks again"
                ),
            ),
            Map(
                name="TearDownOrphanedSessions",
                comment=(
                    "The teardown chain, once for each orphaned session; one that cannot "
                    "be torn down never stops the others."
                ),
                items_path=ORPHANS_PATH,
                item_selector={"sessionId.$": "$$.Map.Item.Value"},
                max_concurrency=SWEEP_CONCURRENCY,
                processor=[
                    *teardown_chain(
                        "$.sessionId", then="SessionSwept", if_incomplete="SessionNotSwept"
                    ),
                    # Each iteration ends with its session and how its teardown ended.
                    Pass(
                        name="SessionSwept",
                        comment="Nothing of this session is left.",
                        parameters={"swept.$": "$.sessionId"},
                    ),
                    Pass(
                        name="SessionNotSwept",
                        comment="A teardown step failed after its retries: the next sweep retries.",
                        parameters={
                            "notSwept.$": "$.sessionId",
                            "error.$": f"{TEARDOWN_FAILURE_PATH}.Error",
                        },
                    ),
                ],
                result_path=TEARDOWNS_PATH,
                next="CheckSweep",
            ),
            Pass(
                name="CheckSweep",
                comment="List the orphaned sessions whose teardown was incomplete.",
                parameters={"notSwept.$": f"{TEARDOWNS_PATH}[*].notSwept"},
                result_path="$.sweep",
                next="IsSweepComplete",
            ),
            Choice(
                name="IsSweepComplete",
                comment="Was every orphaned session torn down?",
                rules=(Rule(is_present(f"{NOT_SWEPT_PATH}[0]"), next="SweepIncomplete"),),
                default="SweepComplete",
            ),
            Fail(
                name="SweepIncomplete",
                comment="Sessions could not be torn down; the next sweep retries them.",
                error=SWEEP_INCOMPLETE,
                cause_path=(
                    "States.Format('These sessions could not be torn down; the next sweep "
                    f"retries them: {{}}', States.JsonToString({NOT_SWEPT_PATH}))"
                ),
            ),
            Succeed(name="SweepComplete", comment="Every orphaned session is torn down."),
        ],
    )

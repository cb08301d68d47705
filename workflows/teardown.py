"""The teardown chain, written once and composed into every machine that tears down.

Each step finds what the session owns by its tags, from the session id alone, and is
idempotent: a resource that never existed or is already gone is success. A step that
still fails after its retries is recorded at ``$.teardownFailure`` and the chain goes
on, so one stuck resource never stops the others from being removed; the chain then
ends in ``TeardownIncomplete`` (or hands the failure to a state the machine names).
"""

from __future__ import annotations

from tasks.common.session_states import TEARDOWN_STEPS
from workflows.asl import Catch, Choice, Retry, Rule, State, chain, is_present
from workflows.failure import fail_with_message
from workflows.lambda_tasks import TEARDOWN_TRANSIENT_ATTEMPTS, lambda_task

TEARDOWN_FAILURE_PATH = "$.teardownFailure"

#: A stopped Fargate task releases its network interface late (reports say within about
#: 4 minutes; AWS publishes no figure), and the session group cannot be deleted until it
#: has. The first try, right after StopTask, succeeds only when no task ran; the first
#: retry waits half of that reported span, the next the whole of it: a release within 4
#: minutes costs at most 2 retries (each a transition, an invocation and two API calls),
#: and the step keeps trying for about 22 minutes before leaving the group to the sweeper.
#: The door is already shut by then: the control-plane rule is revoked before the group
#: is deleted.
RETRY_GROUP_IN_USE = Retry(
    ("SessionSecurityGroupInUse",),
    interval_seconds=120,
    max_attempts=6,
    backoff_rate=2.0,
    max_delay_seconds=240,
)

IS_TEARDOWN_COMPLETE = "IsTeardownComplete"
TEARDOWN_INCOMPLETE = "TeardownIncomplete"


def teardown_chain(
    session_id_path: str, then: str, *, if_incomplete: str | None = None
) -> list[State]:
    """The teardown states, reading the session id at ``session_id_path``.

    On success the chain goes to the state ``then``. When any step failed for good it
    goes to the state ``if_incomplete``, the failure at ``$.teardownFailure``; without
    one, it ends FAILED in its own ``TeardownIncomplete``, naming the step's error.
    """
    payload = {"sessionId.$": session_id_path}
    comments = {
        "StopBastionTask": "Stop the session's bastion task, if one runs.",
        "RevokeControlPlaneIngress": "Revoke the session's rule on the control-plane group.",
        "DeleteSessionSecurityGroup": (
            "Delete the session security group, retrying while the task's network "
            "interface is released."
        ),
        "DeleteHoldParameter": "Delete the parameter that held the session's task token.",
    }
    steps = chain(
        (
            lambda_task(
                name,
                payload,
                f"$.teardown.{name}",
                comment=comments[name],
                retry=(RETRY_GROUP_IN_USE,) if name == "DeleteSessionSecurityGroup" else (),
                transient_attempts=TEARDOWN_TRANSIENT_ATTEMPTS,
            )
            for name in TEARDOWN_STEPS
        ),
        then=IS_TEARDOWN_COMPLETE,
    )
    # Every step but the last continues with the next step when it fails for good;
    # the last continues with the check.
    for step, following in zip(steps, [*steps[1:], None], strict=True):
        target = following.name if following is not None else IS_TEARDOWN_COMPLETE
        step.catch = (Catch(("States.ALL",), next=target, result_path=TEARDOWN_FAILURE_PATH),)  # type: ignore[attr-defined]
    incomplete = fail_with_message(
        TEARDOWN_INCOMPLETE,
        comment="A teardown step failed after its retries: the sweeper will retry.",
        error_source=TEARDOWN_FAILURE_PATH,
        error=TEARDOWN_INCOMPLETE,
    )
    check = Choice(
        name=IS_TEARDOWN_COMPLETE,
        comment="Did every teardown step succeed?",
        rules=(Rule(is_present(TEARDOWN_FAILURE_PATH), next=if_incomplete or incomplete[0].name),),
        default=then,
    )
    if if_incomplete is not None:
        return [*steps, check]
    return [*steps, check, *incomplete]

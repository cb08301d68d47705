"""The ``teardown`` state machine: the teardown chain alone, for one session id.

Started for a session whose execution was aborted, timed out or failed outside the
workflow's own catchers, and by the sweeper for orphans. Input: ``{"sessionId": ...}``.

Anyone who may start an execution chooses that id, so the first step checks it before it
becomes a filter value or a name (EC2 filters read ``*`` and ``?`` as wildcards): an id
that is not a session id ends the execution ``InvalidRequest`` with nothing touched.
The input is read only at ``$.sessionId``, and only once ``IsSessionIdGiven`` has seen a
string there: no input makes the machine fail with ``States.Runtime`` (started with ``{}``
it ends ``InvalidRequest`` too, before any step runs).
"""

from __future__ import annotations

from tasks.common.session_states import TEARDOWN_STEPS
from workflows.asl import (
    Catch,
    Choice,
    Fail,
    Rule,
    StateMachine,
    Succeed,
    Task,
    all_of,
    is_present,
    is_string,
)
from workflows.teardown import teardown_chain

INVALID_SESSION_ID = "SessionIdInvalid"
INVALID_PATH = "$.invalid"


def teardown_machine() -> StateMachine:
    """Tear down whatever the session named in the input left behind."""
    chain = teardown_chain("$.sessionId", then="TeardownSucceeded")
    first = chain[0]
    if not isinstance(first, Task) or first.name != TEARDOWN_STEPS[0]:
        raise TypeError(f"the teardown chain must start with {TEARDOWN_STEPS[0]}")
    # The first step refuses an id that is not a session id: stop there, touching nothing.
    first.catch = (
        Catch(("InvalidRequest",), next=INVALID_SESSION_ID, result_path=INVALID_PATH),
        *first.catch,
    )
    return StateMachine(
        comment="fargate-bastion teardown: remove everything one session owns",
        states=[
            Choice(
                name="IsSessionIdGiven",
                comment="The input must name the session to tear down.",
                rules=(
                    Rule(
                        all_of(is_present("$.sessionId"), is_string("$.sessionId")),
                        next="StopBastionTask",
                    ),
                ),
                default="SessionIdMissing",
            ),
            Fail(
                name="SessionIdMissing",
                error="InvalidRequest",
                cause='sessionId: the input must be {"sessionId": "<session id>"}',
            ),
            Fail(
                name=INVALID_SESSION_ID,
                comment="The input's sessionId is not a session id: nothing was touched.",
                error="InvalidRequest",
                cause_path=f"{INVALID_PATH}.Cause",
            ),
            *chain,
            Succeed(name="TeardownSucceeded", comment="Nothing of the session is left."),
        ],
    )

"""The ``teardown`` state machine: the teardown chain alone, for one session id.

Started for a session whose execution was aborted, timed out or failed outside the
workflow's own catchers, and by the sweeper for orphans. Input: ``{"sessionId": ...}``.
"""

from __future__ import annotations

from workflows.asl import Choice, Fail, Rule, StateMachine, Succeed, all_of, is_present, is_string
from workflows.teardown import teardown_chain


def teardown_machine() -> StateMachine:
    """Tear down whatever the session named in the input left behind."""
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
            *teardown_chain("$.sessionId", then="TeardownSucceeded"),
            Succeed(name="TeardownSucceeded", comment="Nothing of the session is left."),
        ],
    )

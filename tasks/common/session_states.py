"""The session machine's state names and where it keeps each step's result.

One place for them: workflows/ builds the machines from these names, and the API's view
of a session, the command, the benchmarks and the tests read executions by them.
"""

from __future__ import annotations

VALIDATE_REQUEST = "ValidateRequest"
FIND_CONTROL_PLANE = "FindControlPlane"
CREATE_SESSION_SECURITY_GROUP = "CreateSessionSecurityGroup"
RUN_BASTION_TASK = "RunBastionTask"
AUTHORIZE_CONTROL_PLANE_INGRESS = "AuthorizeControlPlaneIngress"
WAIT_FOR_BASTION_ADDRESS = "WaitForBastionAddress"
#: A Choice: the ready document is complete (its output holds it at ``ready``).
BASTION_READY = "BastionReady"
HOLD_SESSION = "HoldSession"
#: Answers an extension request the hold received, then holds again (via BastionReady).
EXTEND_SESSION = "ExtendSession"
MARK_SESSION_EXPIRED = "MarkSessionExpired"

#: The states before the bastion is ready, in order.
STARTING_STATES = (
    VALIDATE_REQUEST,
    FIND_CONTROL_PLANE,
    CREATE_SESSION_SECURITY_GROUP,
    RUN_BASTION_TASK,
    AUTHORIZE_CONTROL_PLANE_INGRESS,
    WAIT_FOR_BASTION_ADDRESS,
)
#: The steps that build the session, in order; each one's failure is caught into teardown.
SETUP_STEPS = (*STARTING_STATES, HOLD_SESSION)
#: The states of a session that is ready and held (an extension passes through all three).
HOLDING_STATES = (BASTION_READY, HOLD_SESSION, EXTEND_SESSION)
#: The teardown chain's steps, in order, in every machine that tears down.
TEARDOWN_STEPS = (
    "StopBastionTask",
    "RevokeControlPlaneIngress",
    "DeleteSessionSecurityGroup",
    "DeleteHoldParameter",
)

#: The keys each step's whole result is kept under in the execution's data
#: (``$.<key>``), and a later step is given it under.
SESSION = "session"
CONTROL_PLANE = "controlPlane"
SESSION_SECURITY_GROUP = "sessionSecurityGroup"
BASTION_TASK = "bastionTask"
CONTROL_PLANE_INGRESS = "controlPlaneIngress"
READY = "ready"
#: The hold's caught extension request (``{"Error", "Cause"}``).
EXTENSION = "extension"
END = "end"
ERROR = "error"

"""Every state machine of the stack, by the file it renders to."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from workflows.asl import StateMachine
from workflows.session import session_machine
from workflows.sweeper_machine import sweeper_machine
from workflows.teardown_machine import teardown_machine

ASL_DIR = Path(__file__).resolve().parent / "asl"

#: file name under workflows/asl/ → the function that builds the machine
MACHINES: dict[str, Callable[[], StateMachine]] = {
    "session.asl.json": session_machine,
    "teardown.asl.json": teardown_machine,
    "sweeper.asl.json": sweeper_machine,
}

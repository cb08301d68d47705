"""A bastion that exits by itself (crash, expiry, idle) stops its task and ends its session."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time

import pytest

from bastion.local.inventory import read_inventory
from tests.cli.conftest import Cli, validate

pytestmark = pytest.mark.cli


def test_a_bastion_that_dies_ends_its_session(cli: Cli, real_bastions: None) -> None:
    code, session = cli.json("up", "--local", "--wait", "--session-id", "dies-by-itself")
    assert code == 0, session
    record = json.loads((cli.local_dir / "bastions" / "dies-by-itself.json").read_text())
    try:
        os.killpg(record["pid"], signal.SIGKILL)  # the container crashes
        deadline = time.monotonic() + 30
        status: dict[str, object] = {}
        while time.monotonic() < deadline:
            code, status = cli.json("status", "--local", "dies-by-itself")
            if status.get("status") == "ENDED":
                break
            time.sleep(0.2)
        validate(status, "session")
        assert (status["status"], status["endReason"]) == ("ENDED", "bastion-stopped"), status
        assert read_inventory(cli.clients(), "dies-by-itself").is_empty
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(record["pid"], signal.SIGKILL)
        cli.run("down", "--local", "dies-by-itself")

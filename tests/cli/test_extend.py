"""``bastion extend`` on the local AWS: a ready session holds longer, status shows the new
expiry, and an extension past the stack's maximum, or of a session that ended, is refused
with nothing changed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from bastion.cli.errors import ExitCode
from tasks.common.models import format_timestamp, parse_timestamp
from tests.cli.conftest import Cli, local_session, validate

pytestmark = pytest.mark.cli

#: The local stack's MaxDurationMinutes (template.yaml's default).
MAX_MINUTES = 480


@pytest.fixture
def ready(cli: Cli) -> Iterator[dict[str, Any]]:
    with local_session(cli) as document:
        yield document


def later(moment: str, minutes: int) -> str:
    return format_timestamp(parse_timestamp(moment) + timedelta(minutes=minutes))


def test_extend_holds_the_session_longer_and_status_shows_it(
    cli: Cli, ready: dict[str, Any]
) -> None:
    # GIVEN a ready session of 30 minutes, which may last 8 hours from its start at most
    session_id = ready["sessionId"]
    assert ready["latestExpiresAt"] == later(ready["startedAt"], MAX_MINUTES)

    # WHEN it is extended by half an hour
    code, extended = cli.json("extend", "--local", session_id, "--by", "30m")

    # THEN the command waits until the session holds to the new expiry, and says so
    assert code == 0, extended
    validate(extended, "session")
    assert extended["status"] == "READY"
    assert extended["expiresAt"] == later(ready["expiresAt"], 30)
    assert extended["latestExpiresAt"] == ready["latestExpiresAt"]
    # AND status shows the new expiry, and how much longer it may still be extended
    shown = cli.run("status", "--local", session_id)
    assert shown.returncode == 0, shown.stderr
    assert f"expires:  {extended['expiresAt']}" in shown.stdout
    assert f"until {ready['latestExpiresAt']} at most" in shown.stdout


def test_an_extension_past_the_maximum_is_refused_naming_the_limit(
    cli: Cli, ready: dict[str, Any]
) -> None:
    session_id = ready["sessionId"]
    # 30 minutes of session, 8 hours at most: 7h30m more is all that is left
    refused = cli.run("extend", "--local", session_id, "--by", "7h31m")
    assert refused.returncode == ExitCode.REFUSED, refused.stderr
    assert "MaxDurationMinutes" in refused.stderr
    assert "450 min at most" in refused.stderr
    # AND nothing changed
    code, shown = cli.json("status", "--local", session_id)
    assert (code, shown["expiresAt"]) == (0, ready["expiresAt"])


@pytest.mark.parametrize("by", ["0", "-5m", "forever", "1.5h", "8d", ""])
def test_extension_lengths_that_are_not_durations_are_usage_errors(cli: Cli, by: str) -> None:
    assert cli.run("extend", "--local", "any-session", "--by", by).returncode == ExitCode.USAGE
    assert cli.run("extend", "--local", "any-session").returncode == ExitCode.USAGE


def test_a_session_that_ended_is_not_extended(cli: Cli) -> None:
    code, document = cli.json("up", "--local", "--wait", "--duration", "30m")
    assert code == 0, document
    assert cli.run("down", "--local", document["sessionId"]).returncode == 0
    refused = cli.run("extend", "--local", document["sessionId"], "--by", "5m")
    assert refused.returncode == ExitCode.REFUSED, refused.stderr
    assert "already ended" in refused.stderr

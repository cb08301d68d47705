"""``bastion extend`` on the local AWS: a ready session holds longer, status shows the new
expiry, and an extension past the stack's maximum, or of a session that ended, is refused
with nothing changed."""

from __future__ import annotations

import json
import time
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


def test_extend_tells_the_bastion_so_its_terminals_are_warned_at_the_new_expiry(
    cli: Cli, real_bastions: None, ready: dict[str, Any]
) -> None:
    # GIVEN a ready session whose bastion runs its real entry point and sshd
    session_id = ready["sessionId"]
    # WHEN it is extended
    done = cli.run("extend", "--local", session_id, "--by", "15m")
    # THEN the command tells the bastion the new expiry over ssh, and says so
    assert done.returncode == 0, done.stderr
    expires_at = later(ready["expiresAt"], 15)
    assert f"told the bastion: its terminals are warned before {expires_at}" in done.stderr
    # AND the bastion took it: the warning before the session's expiry moved there
    deadline = time.monotonic() + 15
    while True:
        code, document = cli.json("logs", "--local", session_id)
        assert code == 0
        told = [
            event
            for event in (json.loads(line) for line in document["lines"] if '"expiry_told"' in line)
        ]
        if told:
            break
        assert time.monotonic() < deadline, document["lines"][-5:]
        time.sleep(0.1)
    assert (told[-1]["accepted"], told[-1]["expiresAt"]) == (True, expires_at)


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


@pytest.mark.parametrize(
    "expires_at",
    [
        '2026-12-07T10:00:00Z"; touch /tmp/owned; "',
        "2026-12-07T10:00:00Z $(id)",
        "$(id)",
        "2026-12-07 10:00:00",
        "",
    ],
)
def test_an_expiry_that_is_not_a_time_is_never_sent_to_the_bastion(
    monkeypatch: pytest.MonkeyPatch, expires_at: str
) -> None:
    # GIVEN an API answer whose new expiry is not a plain UTC time
    from bastion.cli import expiry_notice
    from bastion.cli.target import Target

    def no_ssh(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"ssh was run: {args}")

    monkeypatch.setattr(expiry_notice.subprocess, "run", no_ssh)
    doc = {"sessionId": "s-1", "user": "bastion", "address": "203.0.113.7", "keyFile": "/k"}
    # WHEN the CLI would tell the bastion, THEN nothing runs, and it says why
    why_not = expiry_notice.tell_bastion(Target.__new__(Target), doc, expires_at)
    assert why_not is not None and "is not a UTC time" in why_not

"""The bastion ends itself: at the session's expiry, after the idle timeout, when stopped.

Short times (a few seconds) with generous deadlines: these tests check what happens and
in which order, never how precisely on time.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bastion.cli import expiry_notice
from tests.container.harness import DEADLINE, Bastion, ClientKey, Launcher, popen, run, stop, utc_in

pytestmark = pytest.mark.container


def open_session(
    bastion: Bastion, key: ClientKey, directory: Path, *arguments: str
) -> subprocess.Popen[str]:
    """An ssh client kept running in the background; returns once it has logged in."""
    before = len(bastion.named("connect"))
    client = popen(
        bastion.ssh_command(key, directory, *arguments),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + DEADLINE
    while len(bastion.named("connect")) == before:
        assert client.poll() is None, f"ssh exited: {client.communicate()[0]}"
        assert time.monotonic() < deadline, "the session never logged in"
        time.sleep(0.05)
    return client


def test_the_session_expires_warning_users_first(
    launcher: Launcher, user_key: ClientKey, tmp_path: Path
) -> None:
    # GIVEN a bastion expiring in a few seconds, warning 7 s before, with a user logged in
    # on a terminal
    bastion = launcher.start(
        user_key.public_line,
        {"BASTION_EXPIRES_AT": utc_in(14), "BASTION_EXPIRY_WARNING_SECONDS": "7"},
    )
    bastion.wait_for("started")
    client = open_session(bastion, user_key, tmp_path, "-tt", "sleep 60")
    try:
        # WHEN the expiry comes
        returncode = bastion.wait_exit()
        # THEN the user was warned, then the bastion exited because the session expired
        warning = bastion.wait_for("expiry_warning")
        assert warning["connections"] == 1
        assert warning["notifiedTerminals"] == 1
        assert warning["expiresAt"] == bastion.named("started")[0]["expiresAt"]
        exit_event = bastion.wait_for("exit")
        assert exit_event["reason"] == "expired"
        assert returncode == exit_event["exitCode"] == 0
        names = [event["event"] for event in bastion.events]
        assert names.index("expiry_warning") < names.index("exit")
        # AND the open session was closed, its terminal told why
        output = client.communicate(timeout=DEADLINE)[0]
        assert client.returncode != 0
        assert "this session expires at" in output
        assert "the session has expired" in output
    finally:
        client.kill()
        client.wait()


def test_an_extendable_session_is_warned_at_its_own_expiry_and_runs_to_the_hard_stop(
    launcher: Launcher, user_key: ClientKey, tmp_path: Path
) -> None:
    # GIVEN a session expiring in a few seconds that may be extended up to a later hard
    # stop (the container cannot learn of an extension), with a user on a terminal
    session_expiry, hard_stop = utc_in(10), utc_in(40)
    bastion = launcher.start(
        user_key.public_line,
        {
            "BASTION_SESSION_EXPIRES_AT": session_expiry,
            "BASTION_EXPIRES_AT": hard_stop,
            "BASTION_EXPIRY_WARNING_SECONDS": "7",
        },
    )
    bastion.wait_for("started")
    client = open_session(bastion, user_key, tmp_path, "-tt", "sleep 60")
    try:
        # WHEN the session's own expiry comes near
        warning = bastion.wait_for("expiry_warning")
        # THEN the user is warned of that expiry, told it may have been extended
        assert warning["expiresAt"] == session_expiry
        assert warning["extendableTo"] == hard_stop
        assert warning["notifiedTerminals"] == 1
        # AND the bastion does not end the session itself at that time (the workflow
        # does, unless it was extended): it is still there once that time has passed
        past_expiry = datetime.strptime(session_expiry, "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=UTC
        ) + timedelta(seconds=3)
        while datetime.now(UTC) < past_expiry:
            time.sleep(0.2)
        assert not bastion.named("exit"), bastion.events
        assert client.poll() is None
    finally:
        bastion.stop()
        stop(client)
    output = client.communicate(timeout=DEADLINE)[0]
    assert f"this session expires at {session_expiry}" in output
    assert "unless it is extended" in output


def test_the_idle_timeout_ends_a_bastion_nobody_uses(
    launcher: Launcher, user_key: ClientKey
) -> None:
    bastion = launcher.start(user_key.public_line, {"BASTION_IDLE_TIMEOUT_SECONDS": "2"})
    bastion.wait_for("started")
    returncode = bastion.wait_exit()
    exit_event = bastion.wait_for("exit")
    assert exit_event["reason"] == "idle"
    assert returncode == 0
    assert not bastion.named("connect")


def test_the_idle_timeout_waits_for_the_last_connection_to_close(
    launcher: Launcher, user_key: ClientKey, tmp_path: Path
) -> None:
    # GIVEN a 6-second idle timeout and a tunnel-only session (ssh -N) opened at once
    bastion = launcher.start(user_key.public_line, {"BASTION_IDLE_TIMEOUT_SECONDS": "6"})
    bastion.wait_for("started")
    client = open_session(bastion, user_key, tmp_path, "-N")
    try:
        # WHEN the connection stays open past the idle timeout
        time.sleep(8)
        # THEN the bastion is still there
        assert bastion.process.poll() is None, bastion.events
        assert not bastion.named("exit")
        # WHEN the user disconnects
        stop(client)
        bastion.wait_for("disconnect")
        # THEN the idle timeout, counted from the disconnect, ends it
        assert bastion.wait_exit() == 0
        assert bastion.wait_for("exit")["reason"] == "idle"
        names = [event["event"] for event in bastion.events]
        assert names.index("disconnect") < names.index("exit")
    finally:
        client.kill()
        client.wait()


def test_stopping_the_task_ends_sessions_and_sshd(
    launcher: Launcher, user_key: ClientKey, tmp_path: Path
) -> None:
    # GIVEN a user logged in
    bastion = launcher.start(user_key.public_line)
    bastion.wait_for("started")
    client = open_session(bastion, user_key, tmp_path, "-N")
    try:
        # WHEN ECS stops the task (SIGTERM to the entry point)
        bastion.process.send_signal(signal.SIGTERM)
        # THEN the entry point logs why and exits 0, and the user's connection is closed
        assert bastion.wait_exit() == 0
        exit_event = bastion.wait_for("exit")
        assert exit_event["reason"] == "stopped"
        assert exit_event["connections"] == 1
        client.wait(timeout=DEADLINE)
        assert client.returncode != 0
        # AND sshd no longer listens
        refused = bastion.ssh(user_key, tmp_path, "true")
        assert refused.returncode == 255
    finally:
        client.kill()
        client.wait()


def test_every_line_on_stdout_is_one_json_event(launcher: Launcher, user_key: ClientKey) -> None:
    bastion = launcher.start(user_key.public_line, {"BASTION_IDLE_TIMEOUT_SECONDS": "1"})
    bastion.wait_exit()
    bastion.wait_for("exit")
    assert bastion.non_json == []
    assert {event["event"] for event in bastion.events} >= {"started", "sshd", "exit"}
    assert all({"time", "event", "sessionId"} <= set(event) for event in bastion.events)


def test_sshd_failing_to_start_ends_the_bastion_with_the_reason(
    launcher: Launcher, user_key: ClientKey
) -> None:
    # GIVEN the SSH port already taken
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        bastion = launcher.start(user_key.public_line, {"BASTION_SSH_PORT": str(port)})
        # THEN the entry point exits 1, saying sshd exited, with sshd's own words logged
        assert bastion.wait_exit() == 1
    exit_event = bastion.wait_for("exit")
    assert (exit_event["reason"], exit_event["exitCode"]) == ("sshd-exited", 1)
    assert not bastion.named("started")
    assert any("Cannot bind any address" in event["message"] for event in bastion.named("sshd"))


def test_every_start_generates_fresh_host_keys(launcher: Launcher, user_key: ClientKey) -> None:
    first, second = (launcher.start(user_key.public_line) for _ in range(2))
    keys = [bastion.wait_for("started")["hostKeys"] for bastion in (first, second)]
    # Two keys each (ed25519, ECDSA), none shared: nothing of the image identifies a host.
    assert [len(host_keys) for host_keys in keys] == [2, 2]
    assert not set(keys[0]) & set(keys[1])
    # The started event gives the fingerprints users can check the host key against.
    private = first.runtime / "ssh_host_ed25519_key"
    listing = run(["ssh-keygen", "-l", "-f", f"{private}.pub"], check=True).stdout.split()
    assert f"ED25519 {listing[1]}" in keys[0]
    assert private.stat().st_mode & 0o077 == 0


def test_stopping_the_task_tells_logged_in_terminals_the_session_ended(
    launcher: Launcher, user_key: ClientKey, tmp_path: Path
) -> None:
    # GIVEN a user logged in on a terminal (the workflow ends a session, extended or not,
    # by stopping its task: the entry point cannot learn of an extension)
    bastion = launcher.start(user_key.public_line)
    bastion.wait_for("started")
    client = open_session(bastion, user_key, tmp_path, "-tt", "sleep 60")
    try:
        # WHEN ECS stops the task
        bastion.process.send_signal(signal.SIGTERM)
        # THEN the terminal is told the session ended, then closed
        assert bastion.wait_exit() == 0
        exit_event = bastion.wait_for("exit")
        assert (exit_event["reason"], exit_event["notifiedTerminals"]) == ("stopped", 1)
        output = client.communicate(timeout=DEADLINE)[0]
        assert "the session has ended: disconnecting" in output
    finally:
        client.kill()
        client.wait()


def start_extendable(
    launcher: Launcher, key: ClientKey, session_in: int = 120, hard_stop_in: int = 180
) -> Bastion:
    """A bastion whose session may be extended: its own expiry ``session_in`` seconds off,
    before its hard stop ``hard_stop_in`` seconds off; returned once sshd accepts."""
    bastion = launcher.start(
        key.public_line,
        {
            "BASTION_SESSION_EXPIRES_AT": utc_in(session_in),
            "BASTION_EXPIRES_AT": utc_in(hard_stop_in),
        },
    )
    bastion.wait_for("started")
    return bastion


def tell_expiry(bastion: Bastion, key: ClientKey, directory: Path, value: str) -> dict[str, Any]:
    """Write ``value`` where the entry point reads the session's expiry, as ``bastion
    extend`` does over ssh; returns the entry point's ``expiry_told`` event for it."""
    result = bastion.ssh(key, directory, f'printf %s {value} > "$BASTION_EXPIRY_FILE"')
    assert result.returncode == 0, result.stderr
    return bastion.wait_for("expiry_told", lambda event: value.startswith(event["value"] or "\0"))


def test_the_session_expiry_told_by_the_user_is_checked(
    launcher: Launcher, user_key: ClientKey, tmp_path: Path
) -> None:
    # GIVEN a session that may be extended (its own expiry before the hard stop)
    session_expiry, hard_stop = utc_in(120), utc_in(180)
    bastion = launcher.start(
        user_key.public_line,
        {"BASTION_SESSION_EXPIRES_AT": session_expiry, "BASTION_EXPIRES_AT": hard_stop},
    )
    bastion.wait_for("started")
    try:
        # WHEN the user's side tells it things that are not a new expiry
        garbage = tell_expiry(bastion, user_key, tmp_path, "tomorrow")
        too_late = tell_expiry(bastion, user_key, tmp_path, utc_in(3600))
        # THEN each is refused, naming why, and the expiry stays
        assert not garbage["accepted"] and "not a UTC time" in garbage["message"]
        assert not too_late["accepted"] and "after the hard stop" in too_late["message"]
        # AND so are a huge value (read 64 characters at most) and a link to another file,
        # which is removed without being read
        huge = tell_expiry(bastion, user_key, tmp_path, "9" * 10_000)
        assert huge["value"] == "9" * 64 and not huge["accepted"]
        linked = bastion.ssh(user_key, tmp_path, 'ln -s /etc/passwd "$BASTION_EXPIRY_FILE"')
        assert linked.returncode == 0, linked.stderr
        link = bastion.wait_for("expiry_told", lambda event: event["value"] == "")
        assert not link["accepted"] and "not a regular file" in link["message"]
        # AND a time up to the hard stop is taken
        told = utc_in(150)
        accepted = tell_expiry(bastion, user_key, tmp_path, told)
        assert accepted["accepted"]
        assert (accepted["expiresAt"], accepted["extendableTo"]) == (told, hard_stop)
    finally:
        bastion.stop()


def test_the_expiry_warning_follows_the_expiry_the_user_told(
    launcher: Launcher, user_key: ClientKey, tmp_path: Path
) -> None:
    # GIVEN a session whose own expiry is far off, with a user on a terminal
    bastion = launcher.start(
        user_key.public_line,
        {
            "BASTION_SESSION_EXPIRES_AT": utc_in(300),
            "BASTION_EXPIRES_AT": utc_in(600),
            "BASTION_EXPIRY_WARNING_SECONDS": "5",
        },
    )
    bastion.wait_for("started")
    client = open_session(bastion, user_key, tmp_path, "-tt", "sleep 60")
    try:
        # WHEN it is told of another expiry (here a near one, to keep the test short)
        told = utc_in(8)
        assert tell_expiry(bastion, user_key, tmp_path, told)["accepted"]
        # THEN the terminal is warned before that expiry, naming it, and nothing ends
        warning = bastion.wait_for("expiry_warning")
        assert (warning["expiresAt"], warning["notifiedTerminals"]) == (told, 1)
        assert not bastion.named("exit")
    finally:
        bastion.stop()
        stop(client)
    assert f"this session expires at {told}" in client.communicate(timeout=DEADLINE)[0]


def test_a_directory_told_as_the_expiry_is_refused_and_the_bastion_runs_on(
    launcher: Launcher, user_key: ClientKey, tmp_path: Path
) -> None:
    # GIVEN a session that may be extended
    bastion = start_extendable(launcher, user_key)
    try:
        # WHEN the user makes a directory where the expiry is told
        made = bastion.ssh(user_key, tmp_path, 'mkdir "$BASTION_EXPIRY_FILE"')
        assert made.returncode == 0, made.stderr
        # THEN it is refused as no regular file, and the entry point runs on: it still
        # takes a time told afterwards
        refused = bastion.wait_for("expiry_told", lambda event: event["value"] == "")
        assert not refused["accepted"] and "not a regular file" in refused["message"]
        told = utc_in(150)
        assert tell_expiry(bastion, user_key, tmp_path, told)["accepted"]
        assert not bastion.named("exit")
    finally:
        bastion.stop()


def test_an_expiry_file_swapped_for_a_fifo_never_keeps_the_bastion_past_its_hard_stop(
    launcher: Launcher, user_key: ClientKey
) -> None:
    # GIVEN a session that may be extended, its hard stop a few seconds off
    bastion = launcher.start(
        user_key.public_line,
        {"BASTION_SESSION_EXPIRES_AT": utc_in(12), "BASTION_EXPIRES_AT": utc_in(15)},
    )
    bastion.wait_for("started")
    told_file, new_name = bastion.runtime / "session-expires-at", bastion.runtime / ".new"
    regular, fifo = bastion.runtime / ".told-regular", bastion.runtime / ".told-fifo"
    regular.write_text(utc_in(14))
    os.mkfifo(fifo)
    try:
        # WHEN the expiry file flips between a regular file and a FIFO nobody writes, as
        # fast as links and renames go, while the entry point looks at it several times (a
        # FIFO opened between its check and its read would block it for good)
        looks = len(bastion.named("expiry_told"))
        deadline = time.monotonic() + DEADLINE
        while (
            len(bastion.named("expiry_told")) < looks + 5
            and not bastion.named("exit")
            and time.monotonic() < deadline
        ):
            for _ in range(1000):
                new_name.hardlink_to(regular)
                new_name.rename(told_file)
                new_name.hardlink_to(fifo)
                new_name.rename(told_file)
        told_file.unlink(missing_ok=True)
        # THEN the bastion still exits at its hard stop
        assert bastion.wait_exit() == 0
        assert bastion.wait_for("exit")["reason"] == "expired"
    finally:
        bastion.stop()


#: Run in a login session: opens ``count`` terminals whose output nobody reads, fills each,
#: and leaves a process on each (a terminal the entry point would tell, but cannot).
STUCK_TERMINALS = """
import os, subprocess, sys, time
masters = []
for _ in range({count}):
    master, slave = os.openpty()
    os.set_blocking(slave, False)
    try:
        while True:
            os.write(slave, b"x" * 4096)
    except BlockingIOError:
        pass
    os.set_blocking(slave, True)
    subprocess.Popen(["sleep", "600"], stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    masters.append(master)
print("stuck", flush=True)
time.sleep(600)
"""


def test_terminals_that_take_no_output_never_keep_the_bastion_past_its_hard_stop(
    launcher: Launcher, user_key: ClientKey, tmp_path: Path
) -> None:
    # GIVEN a bastion whose hard stop is a few seconds off, and a logged-in user with many
    # terminals whose output nobody reads (each write to them would wait)
    bastion = launcher.start(
        user_key.public_line,
        {"BASTION_EXPIRES_AT": utc_in(12), "BASTION_EXPIRY_WARNING_SECONDS": "0"},
    )
    bastion.wait_for("started")
    script = STUCK_TERMINALS.format(count=30)
    client = popen(
        bastion.ssh_command(user_key, tmp_path, "python3", "-c", shlex.quote(script)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert client.stdout is not None
        assert client.stdout.readline().strip() == "stuck"
        # WHEN the hard stop comes
        # THEN the bastion exits all the same, telling each terminal no longer than a moment
        assert bastion.wait_exit() == 0
        exit_event = bastion.wait_for("exit")
        assert exit_event["reason"] == "expired"
    finally:
        bastion.stop()
        stop(client)


def test_the_expiry_the_command_tells_is_never_read_half_written(
    launcher: Launcher, user_key: ClientKey, tmp_path: Path
) -> None:
    # GIVEN a session that may be extended
    bastion = start_extendable(launcher, user_key)
    told = utc_in(150)
    try:
        # WHEN `bastion extend`'s command tells it the new expiry, over and over, while the
        # entry point looks several times
        command = expiry_notice.remote_command(told)
        looped = bastion.ssh(
            user_key, tmp_path, f"while ((SECONDS < 5)); do {command}; done; echo done"
        )
        assert looped.returncode == 0 and "done" in looped.stdout, looped.stderr
        # THEN each look read the whole expiry and took it, never an empty or partial one
        bastion.wait_for("expiry_told")
        assert len(bastion.named("expiry_told")) >= 3
        assert [event["value"] for event in bastion.named("expiry_told")] == [told] * len(
            bastion.named("expiry_told")
        )
    finally:
        bastion.stop()

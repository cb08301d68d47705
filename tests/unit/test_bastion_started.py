"""The bastion's started line, read and checked: what it reports, and every hostile line refused."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tasks.common.bastion_started import (
    MAX_EMPTY_PAGES,
    MAX_STARTED_LINE_CHARS,
    STARTED_FILTER_PATTERN,
    bastion_log_stream,
    is_started_line,
    parse_started_line,
    read_bastion_started,
)
from tasks.common.errors import BastionStartedInvalid
from tasks.common.host_keys import fingerprint_of
from tests.unit.keys import ecdsa_key, ed25519_key, sk_ed25519_key

pytestmark = pytest.mark.unit

TASK_ID = "0f9e8d7c6b5a49382716a5b4c3d2e1f0"
OTHER_TASK_ID = "00000000000000000000000000000001"
SESSION_ID = "alice-debug-1"
STREAM = f"bastion/bastion/{TASK_ID}"
ED25519 = ed25519_key("")
ECDSA = ecdsa_key(ec.SECP256R1(), "")


def entry(line: str) -> dict[str, str]:
    key_type, key = line.split()[:2]
    return {"type": key_type, "key": key, "fingerprint": fingerprint_of(base64.b64decode(key))}


def started(**changes: Any) -> dict[str, Any]:
    """A started event as the entry point writes it (the fields a reader looks at)."""
    event: dict[str, Any] = {
        "time": "2026-11-27T02:16:58.102Z",
        "event": "started",
        "sessionId": SESSION_ID,
        "port": 22,
        "hostKeys": ["ED25519 SHA256:x", "ECDSA SHA256:y"],
        "hostPublicKeys": [entry(ED25519), entry(ECDSA)],
    }
    event.update(changes)
    return event


def line(event: Any) -> str:
    return json.dumps(event, separators=(",", ":"))


def parse(message: str, stream: str = STREAM, session_id: str = SESSION_ID) -> Any:
    return parse_started_line(
        message,
        log_stream=stream,
        container="bastion",
        task_id=TASK_ID,
        session_id=session_id,
        logged_at=1_767_225_600_000,
    )


def test_the_started_line_gives_the_reported_host_keys_of_its_task() -> None:
    reported = parse(line(started()))

    assert reported.task_id == TASK_ID
    assert reported.session_id == SESSION_ID
    assert reported.port == 22
    assert reported.logged_at == 1_767_225_600_000
    assert reported.host_public_keys() == [entry(ED25519), entry(ECDSA)]


def test_the_stream_is_the_awslogs_drivers_for_the_tasks_container() -> None:
    assert bastion_log_stream("bastion", TASK_ID) == STREAM


def test_only_json_objects_whose_event_is_started_are_started_lines() -> None:
    assert is_started_line(line(started()))
    assert STARTED_FILTER_PATTERN == '{ $.event = "started" }'
    for other in (
        line({"event": "sshd", "message": 'Server listening "started"'}),
        line({"event": ["started"]}),
        line({"event": "started "}),
        line(["started"]),
        "started",
        '{"event":"started"',
        "[" * 100_000,
    ):
        assert not is_started_line(other), other


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ('{"event":"started","sessionId":"alice-debug-1",', "not a JSON object"),
        ('["started"]', "not a JSON object"),
        ("[" * 5_000 + "]" * 5_000, "not a JSON object"),
        (line(started(event="connect")), "not the bastion's started event"),
        (line(started(hostPublicKeys=[])), "non-empty list"),
        (line(started(hostPublicKeys=[entry(ED25519)] * 9)), "more than 8"),
        (line(started(hostPublicKeys=None)), "non-empty list"),
        (line(started(hostPublicKeys=[{**entry(ED25519), "type": "ssh-dss"}])), "not accepted"),
        (line(started(hostPublicKeys=[entry(sk_ed25519_key())])), "not accepted"),
        (
            line(started(hostPublicKeys=[{**entry(ED25519), "type": "ecdsa-sha2-nistp256"}])),
            "ecdsa-sha2-nistp256 host key",
        ),
        (
            line(started(hostPublicKeys=[{**entry(ED25519), "key": "bm90IGEga2V5"}])),
            "ssh-ed25519 host key",
        ),
        (
            line(started(hostPublicKeys=[{**entry(ED25519), "key": "@revoked *"}])),
            "not one word of base64",
        ),
        (
            line(started(hostPublicKeys=[{**entry(ED25519), "fingerprint": entry(ECDSA)["key"]}])),
            "fingerprint",
        ),
        (line(started(sessionId="mallory-1")), "names session 'mallory-1'"),
        (line(started(sessionId=None)), "names session None"),
        (line(started(port="22")), "port"),
        (line(started(port=True)), "port"),
        (line(started(port=70000)), "port"),
    ],
)
def test_a_hostile_or_broken_started_line_is_refused_saying_why(message: str, reason: str) -> None:
    with pytest.raises(BastionStartedInvalid, match=reason):
        parse(message)


def test_an_oversize_line_is_refused_before_it_is_parsed() -> None:
    padded = line(started(padding="x" * MAX_STARTED_LINE_CHARS))
    with pytest.raises(BastionStartedInvalid, match="longer than"):
        parse(padded)


@pytest.mark.parametrize(
    "stream",
    [
        f"bastion/bastion/{OTHER_TASK_ID}",
        f"bastion/other/{TASK_ID}",
        f"other/bastion/{TASK_ID}",
        TASK_ID,
        f"bastion/bastion/{TASK_ID}/x",
    ],
)
def test_a_line_from_another_tasks_stream_is_refused(stream: str) -> None:
    with pytest.raises(BastionStartedInvalid, match="not the stream of task"):
        parse(line(started()), stream=stream)


class PagedLogs:
    """A stream as GetLogEvents may answer it: empty pages with a token before the events."""

    def __init__(self, empty_pages: int, messages: list[str]) -> None:
        self.empty_pages = empty_pages
        self.messages = messages
        self.requests: list[dict[str, Any]] = []

    def get_log_events(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        page = len(self.requests) - 1
        if page < self.empty_pages:
            return {"events": [], "nextForwardToken": f"f/{page + 1}"}
        events = [{"timestamp": 1, "message": message} for message in self.messages]
        return {"events": events, "nextForwardToken": f"f/{page}"}


def read(logs: PagedLogs) -> Any:
    return read_bastion_started(
        logs,
        log_group="/ecs/fargate-bastion/bastion",
        container="bastion",
        task_arn=f"arn:aws:ecs:us-east-1:123456789012:task/fargate-bastion/{TASK_ID}",
        session_id=SESSION_ID,
    )


def test_the_reader_follows_empty_pages_to_the_head_of_the_stream() -> None:
    logs = PagedLogs(MAX_EMPTY_PAGES, [line({"event": "sshd"}), line(started())])
    reported = read(logs)
    assert reported is not None and reported.host_public_keys() == [entry(ED25519), entry(ECDSA)]
    assert logs.requests[0]["logStreamName"] == STREAM
    assert [r.get("nextToken") for r in logs.requests] == [None, "f/1", "f/2", "f/3"]


def test_the_reader_gives_up_on_endless_empty_pages_as_not_started_yet() -> None:
    logs = PagedLogs(100, [line(started())])
    assert read(logs) is None
    assert len(logs.requests) == MAX_EMPTY_PAGES + 1

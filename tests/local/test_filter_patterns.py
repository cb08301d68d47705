"""Filter patterns as CloudWatch Logs reads them: what the local AWS evaluates, and refuses."""

from __future__ import annotations

import pytest

from bastion.local.filter_patterns import UnsupportedFilterPattern, compile_filter_pattern

pytestmark = pytest.mark.local

STARTED = '{"time":"2026-01-01T00:00:00.000Z","event":"started","sessionId":"alice-1","port":22}'
SSHD = '{"event":"sshd","sessionId":"alice-1","message":"Server listening on 0.0.0.0 port 22."}'
NESTED = '{"event":"kubeconfig","detail":{"status":"ready"}}'


@pytest.mark.parametrize(
    ("pattern", "message", "matches"),
    [
        ("", "anything", True),
        ("   ", STARTED, True),
        ('{ $.event = "started" }', STARTED, True),
        ('{$.event="started"}', STARTED, True),
        ('{ $.event = "started" }', SSHD, False),
        ('{ $.event = "started" }', "started", False),
        ('{ $.event = "started" }', '["started"]', False),
        ('{ $.event = "started" }', '{"event":["started"]}', False),
        ('{ $.event = "started" }', '{"event":"started "}', False),
        ('{ $.event = "start" }', STARTED, False),
        ('{ $.event = "start*" }', STARTED, True),
        ('{ $.event = "*" }', STARTED, True),
        ('{ $.event = "started" && $.sessionId = "alice-*" }', STARTED, True),
        ('{ $.event = "started" && $.sessionId = "bob-*" }', STARTED, False),
        ("{ $.event = started }", STARTED, True),
        ('{ $.detail.status = "ready" }', NESTED, True),
        ('{ $.detail.status = "ready" }', STARTED, False),
        ('{ $.port = "22" }', STARTED, False),  # a number is not the string "22"
        ("started", STARTED, True),
        ('"Server listening"', SSHD, True),
        ('sshd "port 22"', SSHD, True),
        ("sshd started", SSHD, False),
        ("Started", STARTED, False),  # terms are case-sensitive
    ],
)
def test_patterns_match_as_cloudwatch_logs_reads_them(
    pattern: str, message: str, matches: bool
) -> None:
    assert compile_filter_pattern(pattern)(message) is matches


@pytest.mark.parametrize(
    "pattern",
    [
        "{ $.port > 21 }",
        "{ $.port = 22 }",
        '{ $.event != "started" }',
        '{ $.event = "started" || $.event = "exit" }',
        '{ ($.event = "started") }',
        '{ $.hostKeys[0] = "x" }',
        "{ $.event IS NULL }",
        '{ $.event = "started"',
        '{ event = "started" }',
        "[ip, user, ...]",
        "ERROR -DEBUG",
        "?ERROR ?WARN",
        '"unterminated',
    ],
)
def test_what_the_local_aws_cannot_evaluate_is_refused(pattern: str) -> None:
    with pytest.raises(UnsupportedFilterPattern):
        compile_filter_pattern(pattern)

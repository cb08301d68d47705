"""Attacks on the session machine with inputs anyone who may start an execution can give.

Whatever the input (not an object, odd types, huge or control-character values), the
execution fails in ValidateRequest with InvalidRequest naming a field, its cause is that
one message (no stack trace, no server path, not kilobytes of the input echoed back), and
nothing of the session exists afterwards. An input that carries another session's earlier
results beside a valid request steers no step onto them.
"""

from __future__ import annotations

import json

import pytest

from bastion.follow import error_message
from tests.workflow.harness import Harness, ed25519_public_key

pytestmark = pytest.mark.workflow

#: How long a refusal's message may be: it names the field and says why (a long value it
#: quotes is cut short), far from the 100,000 characters of the longest value sent here.
MAX_MESSAGE_CHARS = 2000
#: The fields a refusal may name (an unknown field's own name is checked separately).
FIELDS = ("request", "cluster", "sshPublicKey", "allowedCidrs", "durationMinutes", "requestedBy")


def _cases(harness: Harness) -> dict[str, object]:
    key = ed25519_public_key()
    valid = harness.request()
    return {
        "text": "text",
        "list": [valid],
        "null": "NULL",
        "number": 7,
        "empty": {},
        "cluster-object": {**valid, "cluster": {"name": harness.cluster.name}},
        "cluster-huge": {**valid, "cluster": "c" * 200_000},
        "cluster-escapes": {**valid, "cluster": "demo\x1b[2J\n\x00"},
        "cluster-lookalike": {**valid, "cluster": harness.cluster.name.replace("e", "\u0435")},
        "key-number": {**valid, "sshPublicKey": 5},
        "key-nul": {**valid, "sshPublicKey": key + "\x00ssh-ed25519 AAAA"},
        "key-two-lines": {**valid, "sshPublicKey": key + "\n" + key},
        "key-line-separator": {**valid, "sshPublicKey": key + " c\u2028" + key},
        "key-huge-comment": {**valid, "sshPublicKey": key + " " + "a" * 100_000},
        "cidrs-string": {**valid, "allowedCidrs": "203.0.113.7/32"},
        "cidrs-null-entry": {**valid, "allowedCidrs": [None]},
        "cidrs-many": {
            **valid,
            "allowedCidrs": [f"10.0.{i // 256}.{i % 256}/32" for i in range(5000)],
        },
        "cidr-huge": {**valid, "allowedCidrs": ["1" * 100_000]},
        "duration-float": {**valid, "durationMinutes": 60.5},
        "duration-huge": {**valid, "durationMinutes": 10**30},
        "duration-bool": {**valid, "durationMinutes": True},
        "duration-negative": {**valid, "durationMinutes": -60},
        "requester-list": {**valid, "requestedBy": ["arn:aws:iam::123456789012:user/a"]},
        "requester-huge": {**valid, "requestedBy": "a" * 100_000},
        "requester-escapes": {**valid, "requestedBy": "arn:aws:iam::1:user/x\x1b]0;x\x07"},
        "unknown-field-huge": {**valid, "x" * 50_000: 1},
        "unknown-field-escapes": {**valid, "\x1b]0;owned\x07\x1b[2Jforged": 1},
    }


def test_any_input_is_refused_naming_a_field_with_a_short_clean_cause(harness: Harness) -> None:
    started = {}
    machine = harness.stack.state_machine_arn("SessionStateMachine")
    for name, request in _cases(harness).items():
        session_id = f"hostile-{name}"
        arn = harness.sfn.start_execution(
            stateMachineArn=machine,
            name=session_id,
            input="null" if request == "NULL" else json.dumps(request),
        )["executionArn"]
        started[name] = (session_id, arn)
    problems = []
    for name, (session_id, arn) in started.items():
        final = harness.finish(arn, timeout=600)
        cause = str(final.get("cause") or "")
        message = error_message(cause)
        if final["status"] != "FAILED" or final.get("error") != "InvalidRequest":
            problems.append(f"{name}: {final['status']} {final.get('error')}: {message[:200]}")
            continue
        if "Traceback" in cause or 'File "' in cause or "/var/task" in cause or ".py" in cause:
            problems.append(f"{name}: the cause has a stack trace or path: {cause[:300]}")
        if len(message) > MAX_MESSAGE_CHARS:
            problems.append(f"{name}: a {len(message)}-character message: {message[:120]}...")
        if any(ord(char) < 0x20 for char in message):
            problems.append(f"{name}: control characters in the message: {message[:200]!r}")
        field = message.split(":", 1)[0].split("[", 1)[0]
        if not name.startswith("unknown-field") and field not in FIELDS:
            problems.append(f"{name}: the message names no field: {message[:200]!r}")
        inventory = harness.aws.inventory(session_id)
        if not inventory.is_empty:
            problems.append(f"{name}: left {inventory.render()}")
    assert problems == [], "\n".join(problems)


def test_an_input_that_names_another_sessions_resources_steers_no_step(harness: Harness) -> None:
    # GIVEN a session that holds: its group, control-plane rule, task and parameter
    victim_id, victim_arn = harness.start(session_id="victim-1")
    holding = harness.wait_until_holding(victim_arn, victim_id)
    owned = harness.aws.inventory(victim_id)
    assert owned.security_groups and owned.control_plane_rules and owned.running_tasks
    # WHEN someone starts the machine directly with a valid request plus the victim's
    # earlier results, as if the steps that made them had run for this execution
    seeded = {key: holding[key] for key in holding if key != "session"}
    assert {"controlPlane", "sessionSecurityGroup", "bastionTask", "ready"} <= set(seeded)
    _, arn = harness.start(harness.request() | seeded, session_id="seeded-1")
    final = harness.finish(arn, timeout=120)
    # THEN it is refused at validation, naming a seeded key, and no step ran on them
    assert (final["status"], final.get("error")) == ("FAILED", "InvalidRequest"), final
    assert error_message(str(final.get("cause"))).split(":", 1)[0] in seeded
    entered = set(harness.states_entered(arn))
    assert not entered & {"FindControlPlane", "CreateSessionSecurityGroup", "RunBastionTask"}
    assert harness.aws.inventory("seeded-1").is_empty
    assert harness.aws.inventory(victim_id) == owned
    harness.end_session(victim_id, "ended-by-user")
    assert harness.finish(victim_arn, timeout=120)["status"] == "SUCCEEDED"

"""The API's view of a ready session, as the API contract describes it, for the CLI tests
that check what the command does with one (the local sessions that really log in are in
test_local_session.py and test_private_local_session.py)."""

from __future__ import annotations

from typing import Any

from bastion.local.simulated_bastion import generate_host_keys

#: Host keys as a bastion reports them (generated once per test process).
REPORTED = [key.as_event_entry() for key in generate_host_keys()]
TASK_ID = "0123456789abcdef0123456789abcdef"
DOCUMENT = "fargate-bastion-BastionSessionDocument-1A2B3C4D5E6F"


def execution_arn(region: str) -> str:
    return f"arn:aws:states:{region}:123456789012:execution:fargate-bastion-session:alice-1"


def task_arn(region: str) -> str:
    return f"arn:aws:ecs:{region}:123456789012:task/fargate-bastion/{TASK_ID}"


def session_manager(region: str) -> dict[str, str]:
    """A private session's ``sessionManager``: its task's ECS Exec target."""
    target = f"ecs:fargate-bastion_{TASK_ID}_{TASK_ID}-2531612879"
    return {"target": target, "documentName": DOCUMENT, "region": region}


def public_ready_view(region: str = "us-east-1", **changes: Any) -> dict[str, Any]:
    """The API's view of ready public session alice-1 on cluster payments."""
    answer: dict[str, Any] = {
        "sessionId": "alice-1",
        "executionArn": execution_arn(region),
        "status": "RUNNING",
        "phase": "ready",
        "cluster": "payments",
        "requestedBy": "arn:aws:iam::123456789012:user/alice",
        "startedAt": "2026-11-27T10:00:00.000Z",
        "address": "203.0.113.7",
        "sshCommand": "ssh bastion@203.0.113.7",
        "expiresAt": "2026-11-27T11:00:00Z",
        "hostPublicKeys": REPORTED,
    }
    answer.update(changes)
    return answer


def private_ready_view(region: str = "eu-west-1", **changes: Any) -> dict[str, Any]:
    """The API's view of ready private session alice-1: no address, reached through
    Session Manager on its own task."""
    manager = session_manager(region)
    proxy = (
        f"aws ssm start-session --target {manager['target']} --document-name {DOCUMENT} "
        f"--region {region}"
    )
    answer = public_ready_view(
        region,
        accessMode="private",
        address="",
        sessionManager=manager,
        taskArn=task_arn(region),
        sshCommand=f'ssh -o ProxyCommand="{proxy}" bastion@alice-1',
    )
    answer.update(changes)
    return answer

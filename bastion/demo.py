"""``make demo``: one whole bastion session on the embedded local AWS.

No AWS account is used: moto plays AWS, the project's own Lambda handlers run
in-process, and the stack is deployed from template.yaml. The demo seeds a private
EKS cluster, starts a session, prints every state as the execution enters and leaves
it, holds the session for a short lifetime, prints the teardown, and finally reads
back every session-owned resource still there. It exits non-zero if anything is left.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bastion.follow import ExecutionFollower, Step, error_message, history
from tasks.common import session_states

TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"
DEMO_IMAGE = "public.ecr.aws/fargate-bastion/bastion:demo"


def _key_pair(directory: Path) -> tuple[Path, str]:
    """A throwaway ed25519 key pair for the demo session: (private key file, public line)."""
    from bastion.cli.keys import generate_key

    return generate_key(directory, "demo")


def _ssh_login(record: Any, key: Path, host_public_keys: Any, out: Any) -> bool:
    """Log in to the real local bastion with OpenSSH, trusting only the host keys it
    reported, and run one command; whether it worked."""
    from bastion.cli.sessions import pinned_host_options
    from tasks.common.host_keys import parse_host_keys

    known_hosts = key.parent / "known_hosts"
    lines = [
        k.known_hosts_line(record.address, record.port) for k in parse_host_keys(host_public_keys)
    ]
    known_hosts.write_text("".join(f"{line}\n" for line in lines))
    command = 'echo "logged in to $(hostname) as $(id -un), session $BASTION_SESSION_ID"'
    argv = [
        "ssh",
        "-i",
        str(key),
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "BatchMode=yes",
        *pinned_host_options(known_hosts),
        "-o",
        "LogLevel=ERROR",
        "-p",
        str(record.port),
        f"{record.user}@{record.address}",
        command,
    ]
    print(f"  $ ssh -p {record.port} {record.user}@{record.address} '{command}'", file=out)
    done = subprocess.run(  # noqa: S603 - OpenSSH with a fixed argv
        argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30, check=False
    )
    for line in (done.stdout + done.stderr).strip().splitlines():
        print(f"    {line}", file=out)
    return done.returncode == 0


class StepPrinter:
    """Prints each step with the time since the execution started."""

    def __init__(self, out: Any) -> None:
        self.out = out
        self.started: Any = None

    def __call__(self, step: Step) -> None:
        if self.started is None:
            self.started = step.timestamp
        elapsed = (step.timestamp - self.started).total_seconds()
        marks = {"entered": "->", "exited": "<-", "failed": " !", "ended": "=="}
        line = f"  {elapsed:7.2f}s {marks[step.kind]} {step.state}"
        if step.detail:
            line += f"  ({step.detail[:120]})"
        print(line, file=self.out, flush=True)


def run_demo(
    cluster_name: str,
    hold_seconds: float,
    cidr: str,
    out: Any = sys.stdout,
    *,
    log_level: str = "WARNING",
) -> int:
    """Run the demo; returns the process exit code."""
    scratch = Path(tempfile.mkdtemp(prefix="fargate-bastion-demo-"))
    try:
        return _run_demo_in(scratch, cluster_name, hold_seconds, cidr, out, log_level)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _run_demo_in(
    scratch: Path, cluster_name: str, hold_seconds: float, cidr: str, out: Any, log_level: str
) -> int:
    from bastion.local import LocalAws
    from bastion.local.task_runner import SshdTaskRunner, read_record, unavailable_reason

    key_file, public_key = _key_pair(scratch / "keys")
    no_sshd = unavailable_reason()
    # The interpreter logs every Choice that finds no optional path as an error;
    # the execution history printed below is the account of what happened.
    logging.getLogger("moto").setLevel(logging.CRITICAL)

    # A session lasts whole minutes; the local AWS runs time faster so that the
    # shortest session (1 minute) holds for ``hold_seconds``.
    time_scale = 60.0 / hold_seconds
    with LocalAws(region="us-east-1", time_scale=time_scale) as aws:
        runner = None
        if no_sshd is None:
            # RunTask really starts the bastion: the container's entry point and sshd on loopback.
            runner = SshdTaskRunner(scratch / "local")
            aws.ecs_control.task_runner = runner
        cluster = aws.seed_cluster(cluster_name, endpoint_private=True, endpoint_public=False)
        print(
            f"seeded private EKS cluster {cluster.name!r}: {cluster.vpc_id}, "
            f"control-plane group {cluster.cluster_security_group_id}, "
            "endpoint private only",
            file=out,
        )
        stack = aws.deploy(
            TEMPLATE,
            parameters={
                "BastionSubnetIds": ",".join(cluster.public_subnet_ids),
                "BastionImageUri": DEMO_IMAGE,
                # A shell bastion, so that `bastion ssh -- COMMAND` runs here; AWS stacks
                # default to the tunnel-only one.
                "BastionMode": "shell",
                "AllowedClusters": cluster.name,
                "ApiAllowedPrincipals": "*",
                "LogLevel": log_level,
            },
        )
        print(
            f"deployed the stack from {TEMPLATE.name}: {len(stack.resources)} resources", file=out
        )
        sfn = aws.client("stepfunctions")
        ec2 = aws.client("ec2")
        rules_before = _ingress_rules(ec2, cluster.cluster_security_group_id)

        session_id = f"demo-{uuid.uuid4().hex[:8]}"
        request = {
            "cluster": cluster.name,
            "sshPublicKey": public_key,
            "allowedCidrs": [cidr],
            "durationMinutes": 1,
            "requestedBy": "arn:aws:iam::123456789012:user/demo",
        }
        execution_arn = sfn.start_execution(
            stateMachineArn=stack.state_machine_arn("SessionStateMachine"),
            name=session_id,
            input=json.dumps(request),
        )["executionArn"]
        ssh_ok = runner is None
        print(
            f"\nsession {session_id}: cluster {cluster.name}, SSH from {cidr}, "
            f"held {hold_seconds:g} s (1 minute at the local clock's speed)",
            file=out,
        )
        printer = StepPrinter(out)
        follower = ExecutionFollower(sfn, execution_arn)
        follower.follow(
            printer,
            until=lambda step: step.kind == "entered" and step.state == session_states.HOLD_SESSION,
        )
        ready = _ready_output(sfn, execution_arn)
        if ready:
            print(
                f"\n  bastion ready at {ready['address']}, expires {ready['expiresAt']}\n"
                f"  on AWS, connect with: {ready['sshCommand']}\n"
                "  its host keys, as it reported them: "
                + ", ".join(f"{k['type']} {k['fingerprint']}" for k in ready["hostPublicKeys"]),
                file=out,
            )
            record = read_record(scratch / "local", session_id)
            if record is not None:
                print(
                    "  here, the bastion's real sshd listens on "
                    f"{record.address}:{record.port} for the local account {record.user}:\n",
                    file=out,
                )
                ssh_ok = _ssh_login(record, key_file, ready["hostPublicKeys"], out)
                print("", file=out)
            else:
                print(f"\n  (no real bastion to log in to: {no_sshd})\n", file=out)
            print("  while the session holds, it owns:", file=out)
            print(_indent(aws.inventory(session_id).render()) + "\n", file=out)
        started = time.monotonic()
        final = follower.follow(printer, timeout_seconds=60 + hold_seconds * 4)
        print(
            f"\nsession ended: {final['status']}"
            f" after {time.monotonic() - started:.1f} s of hold and teardown",
            file=out,
        )
        output = json.loads(final.get("output") or "{}")
        if final["status"] == "SUCCEEDED":
            print(f"  reason: {output.get('end', {}).get('reason')}", file=out)
        else:
            print(
                f"  error: {final.get('error')}: {error_message(final.get('cause', ''))}", file=out
            )

        inventory = aws.inventory(session_id)
        print("\nsession-owned resources left in the local AWS:", file=out)
        print(inventory.render(), file=out)
        drift = _ingress_rules(ec2, cluster.cluster_security_group_id) != rules_before
        if drift:
            print("the control-plane group's rules differ from before the session", file=out)
        gone = runner is None or read_record(scratch / "local", session_id) is None
        if not gone:
            print("the bastion's sshd still runs after the teardown", file=out)
        if not ssh_ok:
            print("the SSH login into the bastion failed", file=out)
        healthy = (
            final["status"] == "SUCCEEDED" and inventory.is_empty and not drift and ssh_ok and gone
        )
        print("\ndemo " + ("passed: nothing left behind" if healthy else "FAILED"), file=out)
        return 0 if healthy else 1


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.splitlines())


def _ready_output(sfn: Any, execution_arn: str) -> dict[str, Any] | None:
    """The BastionReady state's ``$.ready`` document, from the execution history."""
    for event in history(sfn, execution_arn):
        details = event.get("stateExitedEventDetails", {})
        if details.get("name") == session_states.BASTION_READY:
            ready: dict[str, Any] = json.loads(details["output"])["ready"]
            return ready
    return None


def _ingress_rules(ec2: Any, group_id: str) -> list[Any]:
    group = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    return sorted(json.dumps(rule, sort_keys=True) for rule in group["IpPermissions"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make demo",
        description="Run one whole bastion session on the embedded local AWS.",
    )
    parser.add_argument("--cluster", default="demo", help="name of the seeded EKS cluster")
    parser.add_argument(
        "--hold-seconds",
        type=float,
        default=5.0,
        help="how long the session holds before it expires (default 5)",
    )
    parser.add_argument("--cidr", default="203.0.113.7/32", help="where SSH is allowed from")
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="also print the task handlers' structured (JSON) log lines",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.hold_seconds <= 60:
        parser.error("--hold-seconds must be between 1 and 60")
    return run_demo(
        args.cluster,
        args.hold_seconds,
        args.cidr,
        log_level="INFO" if args.verbose else "WARNING",
    )


if __name__ == "__main__":
    sys.exit(main())

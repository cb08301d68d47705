"""``python -m benchmarks.image``: the bastion image, per build target: its size
(uncompressed, and as the gzip-compressed OCI archive a registry serves) and the time from
starting its container, as the task definition says, to sshd accepting a connection.

It builds with podman (scripts/build-image.sh) and writes its section into
docs/benchmarks.md between two markers, after `python -m benchmarks` has written the
rest. A target that cannot be built here (its downloads unreachable) is reported as such.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bastion.container_image import task_definition_flags

ROOT = Path(__file__).resolve().parent.parent
BUILD_SCRIPT = ROOT / "scripts" / "build-image.sh"
DOCS = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- image:begin -->", "<!-- image:end -->"
TARGETS = ("tunnel", "tools")
#: The pull dominates a Fargate task's start: the tunnel-only image's compressed budget.
TUNNEL_COMPRESSED_LIMIT = 40 * 1000 * 1000
#: The seed's image with the tool set (README estimate: no Docker engine had built it).
SEED_ESTIMATE = "about 400-440 MB uncompressed, about 135 MB compressed (estimated, never built)"
START_RUNS = 5
DEADLINE = 60.0


@dataclass(frozen=True)
class TargetResult:
    target: str
    uncompressed: int | None = None
    compressed: int | None = None
    start_seconds: tuple[float, ...] = ()
    problem: str = ""


def _run(command: list[str], **options: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed argv
        command,
        capture_output=True,
        text=True,
        check=False,
        **options,  # type: ignore[call-overload]
    )


def podman_flags() -> list[str]:
    return _run(["bash", str(BUILD_SCRIPT), "podman-flags"]).stdout.split()


def build(target: str) -> tuple[str, str]:
    tag = f"localhost/fargate-bastion:bench-{target}"
    environment = {**os.environ, "IMAGE": tag, "IMAGE_TARGET": target, "CONTAINER_ENGINE": "podman"}
    built = _run(["bash", str(BUILD_SCRIPT)], env=environment, timeout=1800)
    return tag, "" if built.returncode == 0 else build_problem(built.stderr)


#: curl's exit statuses a build step reports when a download cannot start.
CURL_FAILURES = {6: "could not resolve the host", 7: "could not connect to the host"}


def build_problem(stderr: str) -> str:
    """One line saying why a build failed: which download, or the build's last words."""
    last = (stderr.strip().splitlines() or ["no output"])[-1]
    host = re.search(r"https://([A-Za-z0-9.-]+)/", last)
    status = re.search(r"exit status (\d+)\s*$", last)
    if host and status:
        code = int(status.group(1))
        reason = CURL_FAILURES.get(code, f"exit status {code}")
        return f"downloading from {host.group(1)} failed ({reason})"
    return last[-200:]


def sizes(tag: str) -> tuple[int, int]:
    uncompressed = int(_run(["podman", "image", "inspect", "--format", "{{.Size}}", tag]).stdout)
    with tempfile.TemporaryDirectory() as directory:
        archive = Path(directory) / "image.tar"
        saved = _run(
            ["podman", "save", "--quiet", "--format", "oci-archive", "-o", str(archive), tag]
        )
        if saved.returncode != 0:
            raise RuntimeError(f"podman save failed: {saved.stderr}")
        return uncompressed, archive.stat().st_size


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _accepts(port: int) -> bool:
    """sshd answered: its identification string arrived on the published port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
            return connection.recv(8).startswith(b"SSH-")
    except OSError:
        return False


def start_to_accept(tag: str, flags: list[str]) -> float:
    """Seconds from `podman start` to sshd's banner, the task definition's settings on."""
    task_flags, container_port = task_definition_flags()
    port = _free_port()
    name = f"fargate-bastion-bench-{os.getpid()}-{port}"
    public = "ssh-ed25519 " + _public_key()
    environment = {
        "BASTION_SESSION_ID": "bench",
        "BASTION_CLUSTER_NAME": "demo",
        "BASTION_AUTHORIZED_KEY": public,
        "BASTION_EXPIRES_AT": datetime.fromtimestamp(time.time() + 600, UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        ),
        "BASTION_IDLE_TIMEOUT_SECONDS": "600",
        "BASTION_ENDPOINT_HOST": "endpoint.test",
        "BASTION_MODE": "tunnel",
    }
    created = _run(
        [
            "podman",
            "create",
            "--name",
            name,
            *flags,
            *task_flags,
            "--publish",
            f"127.0.0.1:{port}:{container_port}",
            *[item for pair in environment.items() for item in ("--env", "=".join(pair))],
            tag,
        ]
    )
    if created.returncode != 0:
        raise RuntimeError(f"podman create failed: {created.stderr}")
    try:
        began = time.monotonic()
        started = _run(["podman", "start", name])
        if started.returncode != 0:
            raise RuntimeError(f"podman start failed: {started.stderr}")
        while not _accepts(port):
            if time.monotonic() - began > DEADLINE:
                raise RuntimeError("sshd never accepted a connection")
            time.sleep(0.01)
        return time.monotonic() - began
    finally:
        _run(["podman", "rm", "--force", "--time", "0", name])


def _public_key() -> str:
    with tempfile.TemporaryDirectory() as directory:
        private = Path(directory) / "key"
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(private)])
        return (private.parent / "key.pub").read_text().split()[1]


def measure(target: str, runs: int) -> TargetResult:
    tag, problem = build(target)
    if problem:
        return TargetResult(target, problem=problem)
    uncompressed, compressed = sizes(tag)
    flags = podman_flags()
    starts = tuple(start_to_accept(tag, flags) for _ in range(runs))
    return TargetResult(target, uncompressed, compressed, starts)


def megabytes(size: int | None) -> str:
    return "-" if size is None else f"{size / 1e6:.1f} MB"


def render(results: list[TargetResult]) -> str:
    load = os.getloadavg()[0]
    lines = [
        BEGIN,
        "## The bastion image",
        "",
        f"Measured by `make bench` (`python -m benchmarks.image`) on "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC with podman, built by `make image`'s "
        f"script; load average {load:.1f}. This section is rewritten by each run.",
        "",
        "| target | uncompressed | compressed (OCI archive, gzip) | start to sshd accepting "
        "(median, min-max) | result |",
        "| --- | ---: | ---: | --- | --- |",
    ]
    for result in results:
        if result.problem:
            lines.append(f"| {result.target} | - | - | - | not built here: {result.problem} |")
            continue
        starts = result.start_seconds
        verdict = "-"
        if result.target == "tunnel" and result.compressed is not None:
            passed = result.compressed <= TUNNEL_COMPRESSED_LIMIT
            verdict = f"{'PASS' if passed else 'MISS'} (<= 40 MB compressed)"
        lines.append(
            f"| {result.target} | {megabytes(result.uncompressed)} | "
            f"{megabytes(result.compressed)} | {statistics.median(starts):.2f} s "
            f"({min(starts):.2f}-{max(starts):.2f} s, {len(starts)} starts) | {verdict} |"
        )
    lines += [
        "",
        f"- The seed's image with the tool set: {SEED_ESTIMATE}; the tools target is that "
        "image, built where dl.k8s.io, awscli.amazonaws.com and get.helm.sh are reachable.",
        "- Compressed is what a registry serves and Fargate pulls at every task start (it "
        "caches nothing between tasks), so it is what costs start time.",
        "- Start to accepting: from `podman start` of a created container (the task "
        "definition's user, read-only root, dropped capabilities, system control, volumes, "
        "init process) to sshd's identification string on the published port; it includes "
        "podman's own start, the entry point's checks and the host keys it generates.",
        "- Built on this machine's platform from the local Debian base where no registry "
        "answers; the stack runs arm64 (`make image PLATFORM=linux/arm64`).",
        END,
    ]
    return "\n".join(lines) + "\n"


def write_section(section: str, page: Path = DOCS) -> None:
    text = page.read_text() if page.exists() else "# Benchmarks\n"
    if BEGIN in text and END in text:
        before, rest = text.split(BEGIN, 1)
        after = rest.split(END, 1)[1].lstrip("\n")
        text = before + section + after
    else:
        text = text.rstrip("\n") + "\n\n" + section
    page.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.image", description=__doc__)
    parser.add_argument("--runs", type=int, default=START_RUNS, help="container starts per target")
    parser.add_argument("--no-write", action="store_true", help="print only; write no file")
    arguments = parser.parse_args(argv)
    if _run(["podman", "info"]).returncode != 0:
        print("benchmarks.image: podman cannot run here; nothing measured")
        return 1
    results = [measure(target, arguments.runs) for target in TARGETS]
    section = render(results)
    print(section)
    if not arguments.no_write:
        write_section(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

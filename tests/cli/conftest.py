"""The ``bastion`` command's tests: one local AWS daemon for the whole run, CLI subprocesses."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bastion import local_daemon
from bastion.cli.app import main

REPO = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((REPO / "bastion" / "cli" / "schema.json").read_text())
CLI_TIMEOUT_SECONDS = 60


def validate(document: Any, kind: str) -> None:
    """Check ``document`` against the ``kind`` definition of bastion/cli/schema.json."""
    import jsonschema

    jsonschema.validate(document, {"$ref": f"#/$defs/{kind}", "$defs": SCHEMA["$defs"]})


@dataclass
class Cli:
    """Runs ``python -m bastion.cli`` against one local AWS state directory."""

    local_dir: Path
    env: dict[str, str]

    def run(
        self,
        *args: str,
        timeout: float = CLI_TIMEOUT_SECONDS,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run one command: in this process, or as a process for ``ssh`` (it execs OpenSSH)
        or whenever ``env`` adds to the environment."""
        if args[0] != "ssh" and env is None:
            return self.run_here(*args)
        return subprocess.run(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "bastion.cli", args[0], "--local-dir", str(self.local_dir)]
            + list(args[1:]),
            env={**self.env, **(env or {})},
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def run_here(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run one command in this process."""
        words = [args[0], "--local-dir", str(self.local_dir), *args[1:]]
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stderr(err):
            try:
                code = main(words, out=out)
            except SystemExit as exit_:
                code = int(exit_.code or 0)
        return subprocess.CompletedProcess(words, code, out.getvalue(), err.getvalue())

    def json(self, *args: str) -> tuple[int, Any]:
        done = self.run(*args, "--output", "json")
        try:
            return done.returncode, json.loads(done.stdout)
        except ValueError:
            raise AssertionError(
                f"not JSON (exit {done.returncode}): {done.stdout!r} / {done.stderr!r}"
            ) from None

    def clients(self) -> Any:
        """A client factory bound to the local AWS (for the inventory)."""
        import boto3

        endpoint = local_daemon.running(self.local_dir)
        assert endpoint is not None, "the local AWS is not running"
        session = boto3.Session(region_name=endpoint.region, **endpoint.credentials.for_boto3())
        return lambda service: session.client(service, endpoint_url=endpoint.endpoint_url)


@contextlib.contextmanager
def local_session(cli: Cli) -> Iterator[dict[str, Any]]:
    """A 30-minute session on the local AWS, ready; ended when the block ends."""
    code, document = cli.json("up", "--local", "--wait", "--duration", "30m")
    assert code == 0, document
    try:
        yield document
    finally:
        cli.run("down", "--local", document["sessionId"])


@pytest.fixture(scope="package")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    """A local AWS daemon for tests/cli, stopped (with its bastions) when they are done."""
    local_dir = tmp_path_factory.mktemp("local-aws")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AWS_") and key not in ("BASTION_STACK",)
    }
    env.update(
        {
            "BASTION_LOCAL_DIR": str(local_dir),
            "BASTION_STATE_DIR": str(tmp_path_factory.mktemp("bastion-state")),
            "PYTHONPATH": str(REPO),
            "TERM": "dumb",
        }
    )
    try:
        local_daemon.start(local_dir)
        yield Cli(local_dir=local_dir, env=env)
    finally:
        local_daemon.stop(local_dir)  # with the bastions of a daemon that died, if any


@pytest.fixture(scope="package")
def real_bastions(cli: Cli) -> None:
    """Skip, saying why, where the local AWS can only simulate bastions (no sshd)."""
    endpoint = local_daemon.running(cli.local_dir)
    assert endpoint is not None
    if endpoint.bastions != "sshd":
        reason = f"no real bastion on this machine: {endpoint.bastions}"
        print(f"SKIP: {reason}")
        pytest.skip(reason)

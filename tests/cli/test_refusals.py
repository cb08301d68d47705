"""`bastion up` refuses a bad request with one line, a documented code, and creates nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bastion.cli.errors import ExitCode
from bastion.local.inventory import read_inventory
from tests.cli.conftest import Cli, validate

pytestmark = pytest.mark.cli


@pytest.mark.parametrize(
    ("extra", "field", "words"),
    [
        (["--cluster", "no-such-cluster"], "cluster", "no-such-cluster"),
        (["--cidr", "10.0.0.0/8"], "allowedCidrs", "/8"),
        (["--cidr", "0.0.0.0/0"], "allowedCidrs", "0.0.0.0/0"),
        (
            ["--mode", "private", "--cidr", "203.0.113.7/32"],
            "allowedCidrs",
            "private sessions open no inbound port",
        ),
    ],
    ids=[
        "unknown-cluster",
        "cidr-wider-than-the-stack-allows",
        "cidr-anywhere",
        "cidr-of-a-private-session",
    ],
)
def test_the_stack_refuses_and_nothing_is_left(
    cli: Cli, extra: list[str], field: str, words: str
) -> None:
    session_id = f"refused-{field.lower()}-{len(extra[1])}"
    done = cli.run("up", "--local", "--wait", "--session-id", session_id, *extra)
    assert done.returncode == ExitCode.REFUSED == 3, done.stderr
    # Text output shows the steps that ran, then the one line that names the problem.
    messages = [line for line in done.stderr.splitlines() if line.startswith("bastion:")]
    assert messages == [done.stderr.splitlines()[-1]], done.stderr
    assert messages[0].startswith(f"bastion: {field}") and words in messages[0]
    assert read_inventory(cli.clients(), session_id).is_empty
    assert not (cli.local_dir / "sessions" / session_id).exists()


def test_a_malformed_key_is_refused_before_anything_starts(cli: Cli, tmp_path: Path) -> None:
    key = tmp_path / "id_broken"
    key.write_text("not a key\n")
    (tmp_path / "id_broken.pub").write_text("ssh-ed25519 AAAAnot-base64!! me@laptop\n")
    done = cli.run("up", "--local", "--wait", "--session-id", "refused-key", "--key", str(key))
    assert done.returncode == ExitCode.REFUSED, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("bastion: sshPublicKey")
    code, document = cli.json("status", "--local", "refused-key")
    assert code == ExitCode.NOT_FOUND == 4  # no execution was ever started
    validate(document, "error")
    assert not (cli.local_dir / "sessions" / "refused-key").exists()


def test_json_errors_follow_the_schema(cli: Cli) -> None:
    done = cli.run("up", "--local", "--wait", "--cluster", "nope", "--output", "json")
    assert done.returncode == ExitCode.REFUSED
    assert done.stderr.count("\n") == 1  # JSON output: no steps, the one line only
    document = json.loads(done.stdout)
    validate(document, "error")
    assert document["error"]["field"] == "cluster"
    assert document["error"]["exitCode"] == 3

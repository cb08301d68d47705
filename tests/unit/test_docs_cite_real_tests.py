"""Every test the documentation cites as evidence exists: a test renamed or removed takes
the docs' claim with it, and this fails until the docs say what shows it now."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted([REPO / "README.md", *(REPO / "docs").glob("*.md")])
#: `tests/<path>.py`, optionally `::name`; or a bare `::name` of the file cited before it
#: on the same line.
CITATION = re.compile(r"`(tests/[\w/]+\.py)(?:::(\w+))?`|`::(\w+)`")


def citations(document: Path) -> list[tuple[int, str, str | None]]:
    """(line number, test file, test name or None) of each citation in ``document``."""
    found = []
    for number, line in enumerate(document.read_text().splitlines(), start=1):
        current = None
        for match in CITATION.finditer(line):
            if match.group(1):
                current, name = match.group(1), match.group(2)
            else:
                name = match.group(3)
            if current is not None:
                found.append((number, current, name))
    return found


def defines(test_file: Path, name: str) -> bool:
    """Whether ``test_file`` defines a test function or class ``name`` at its top level."""
    pattern = rf"^(async )?def {name}\(|^class {name}\b"
    return re.search(pattern, test_file.read_text(), re.MULTILINE) is not None


@pytest.mark.parametrize("document", DOCUMENTS, ids=[d.name for d in DOCUMENTS])
def test_each_cited_test_exists(document: Path) -> None:
    missing = [
        f"{document.name}:{number}: {test_file}" + (f"::{name}" if name else "")
        for number, test_file, name in citations(document)
        if not (REPO / test_file).is_file()
        or (name is not None and not defines(REPO / test_file, name))
    ]
    assert missing == []


def test_the_check_sees_a_citation_that_is_gone(tmp_path: Path) -> None:
    cited = tmp_path / "cited.md"
    cited.write_text(
        "| a | b | `tests/unit/test_api.py::test_no_such_test`, `::test_list_parameters` |\n"
    )
    (number, test_file, name), (_, same_file, other) = citations(cited)
    assert (number, test_file, name, same_file, other) == (
        1,
        "tests/unit/test_api.py",
        "test_no_such_test",
        "tests/unit/test_api.py",
        "test_list_parameters",
    )
    assert not defines(REPO / test_file, "test_no_such_test")
    assert defines(REPO / test_file, "test_list_parameters")

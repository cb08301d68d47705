"""Tables: one model, rendered as aligned plain text (stdout) or as Markdown (the docs)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

PASS = "PASS"  # noqa: S105 - a verdict, not a password
MISS = "MISS"


def verdict(ok: bool) -> str:
    """PASS or MISS."""
    return PASS if ok else MISS


@dataclass(frozen=True)
class Table:
    """A titled table with optional notes under it."""

    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    notes: tuple[str, ...] = field(default=())
    #: Columns whose cells are right-aligned (numbers), by index.
    numeric: frozenset[int] = field(default=frozenset())

    def __post_init__(self) -> None:
        for row in self.rows:
            if len(row) != len(self.headers):
                raise ValueError(
                    f"table {self.title!r}: row {row!r} has {len(row)} cells, "
                    f"expected {len(self.headers)}"
                )


def make_table(
    title: str,
    headers: Sequence[str],
    rows: Sequence[Sequence[object]],
    notes: Sequence[str] = (),
    numeric: Sequence[int] = (),
) -> Table:
    """A :class:`Table` with every cell turned into text."""
    return Table(
        title=title,
        headers=tuple(headers),
        rows=tuple(tuple(str(cell) for cell in row) for row in rows),
        notes=tuple(notes),
        numeric=frozenset(numeric),
    )


def render_text(table: Table) -> str:
    """Aligned columns, a rule under the header, notes below: readable when piped."""
    widths = [
        max(len(cell) for cell in column) for column in zip(table.headers, *table.rows, strict=True)
    ]

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.rjust(width) if index in table.numeric else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    out = [table.title, "=" * len(table.title), line(table.headers)]
    out.append("  ".join("-" * width for width in widths))
    out.extend(line(row) for row in table.rows)
    out.extend(f"  * {note}" for note in table.notes)
    return "\n".join(out)


def _markdown_cell(cell: str) -> str:
    return cell.replace("|", "\\|")


def render_markdown(table: Table, level: int = 2) -> str:
    """A Markdown section: heading, pipe table, notes as a list."""
    align = ["---:" if index in table.numeric else "---" for index in range(len(table.headers))]
    out = [f"{'#' * level} {table.title}", ""]
    out.append("| " + " | ".join(_markdown_cell(h) for h in table.headers) + " |")
    out.append("| " + " | ".join(align) + " |")
    out.extend("| " + " | ".join(_markdown_cell(c) for c in row) + " |" for row in table.rows)
    if table.notes:
        out.append("")
        out.extend(f"- {note}" for note in table.notes)
    return "\n".join(out)

"""Render the state machines to the committed ASL files.

python -m workflows.render          # write workflows/asl/*.asl.json
python -m workflows.render --check  # exit 1 if a committed file is stale
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from workflows.machines import ASL_DIR, MACHINES

REGENERATE_HINT = "run `make render` (python -m workflows.render) and commit workflows/asl/"


def render_text(file_name: str) -> str:
    """The ASL JSON text of one machine, exactly as committed."""
    definition = MACHINES[file_name]().to_asl()
    return json.dumps(definition, indent=2, ensure_ascii=False) + "\n"


def stale_files(asl_dir: Path = ASL_DIR) -> list[str]:
    """The ASL files that differ from a fresh render (or are missing)."""
    stale = []
    for file_name in MACHINES:
        path = asl_dir / file_name
        if not path.exists() or path.read_text(encoding="utf-8") != render_text(file_name):
            stale.append(file_name)
    return stale


def write_all(asl_dir: Path = ASL_DIR) -> list[Path]:
    """Write every machine's ASL file; returns the paths written."""
    asl_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for file_name in MACHINES:
        path = asl_dir / file_name
        path.write_text(render_text(file_name), encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a file is stale")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for file_name in stale:
            print(f"stale: workflows/asl/{file_name}; {REGENERATE_HINT}", file=sys.stderr)
        return 1 if stale else 0
    for path in write_all():
        print(f"wrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

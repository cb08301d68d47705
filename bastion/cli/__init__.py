"""The ``bastion`` command (entry point :func:`main`); see docs/cli.md."""

from __future__ import annotations

import sys

from bastion.cli.app import build_parser
from bastion.cli.app import main as run
from bastion.cli.errors import CliError, ExitCode


def main(argv: list[str] | None = None) -> int:
    """The console script: run one command and exit with its code."""
    code = run(argv)
    if argv is None:
        sys.exit(code)
    return code


__all__ = ["CliError", "ExitCode", "build_parser", "main", "run"]

"""``python -m benchmarks``: run the benchmark, print its tables, write docs/benchmarks.md.

It exits 0 whenever the measurements ran, even when a target is missed (the tables say
MISS); it exits 1 only when a measurement itself could not run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks.report import BenchConfig, render_markdown_page, render_text_report, run, tables

DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from error
    if not sizes or any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError(f"sizes must be positive: {text!r}")
    return sizes


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    defaults = BenchConfig()
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure time to bastion, cost per session and scale on the local AWS.",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="where to write the Markdown report (default docs/benchmarks.md)",
    )
    parser.add_argument("--no-write", action="store_true", help="print only; write no file")
    parser.add_argument(
        "--concurrency",
        type=_sizes,
        default=defaults.concurrency,
        help="concurrent sessions for the throughput runs, comma-separated (default 1,10,50)",
    )
    parser.add_argument(
        "--import-runs",
        type=int,
        default=defaults.import_runs,
        help="fresh processes per handler module (default 5)",
    )
    parser.add_argument(
        "--draws", type=int, default=defaults.draws, help="simulated sessions (default 1000)"
    )
    parser.add_argument("--seed", type=int, default=defaults.seed, help="simulation seed")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=defaults.time_scale,
        help="local AWS speed-up of workflow waits (default 14400: 8 hours in 2 s)",
    )
    args = parser.parse_args(argv)
    if args.import_runs < 1 or args.draws < 1 or args.time_scale <= 0:
        parser.error("--import-runs, --draws and --time-scale must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config = BenchConfig(
        time_scale=args.time_scale,
        draws=args.draws,
        seed=args.seed,
        concurrency=args.concurrency,
        import_runs=args.import_runs,
    )
    results = run(config, progress=lambda message: print(f"... {message}", file=sys.stderr))
    built = tables(results)
    print(render_text_report(results, built), end="")
    if not args.no_write:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(render_markdown_page(results, built), encoding="utf-8")
        print(f"\nwrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

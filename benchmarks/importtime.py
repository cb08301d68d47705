"""Cold import time of each Lambda handler module, in fresh Python processes.

Each measurement is one new interpreter running ``python -X importtime -c
"import boto3; import tasks.<module>"``: boto3 (and botocore) are imported first because the
Lambda runtime provides them, so the handler's figure is the cumulative time ``-X
importtime`` reports for ``tasks.<module>`` alone.

Two environments, because the X-Ray SDK behind Powertools' Tracer does different work in
each: **as on Lambda** (``LAMBDA_TASK_ROOT`` and the function's variables set, tracing
active, as ``Tracing: Active`` deploys it) the SDK uses its local sampler; **outside
Lambda** it builds a centralized sampler, which creates two botocore X-Ray clients at
import (about 0.1 s of service-model parsing) that no deployed function ever pays.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TASKS_DIR = REPO / "tasks"

LAMBDA = "lambda"
OUTSIDE = "outside"

#: Variables that would point the measured process at a profile or endpoint.
_REMOVED = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL",
    "POWERTOOLS_TRACE_DISABLED",
    "LAMBDA_TASK_ROOT",
    "AWS_LAMBDA_FUNCTION_NAME",
    "PYTHONPROFILEIMPORTTIME",
)

_LINE = re.compile(r"^import time:\s*(\d+)\s*\|\s*(\d+)\s*\|(\s*)(\S+)\s*$")


def handler_modules(tasks_dir: Path = TASKS_DIR) -> list[str]:
    """Every handler module of the ``tasks`` package (``tasks/*.py`` but ``__init__``)."""
    return sorted(
        f"tasks.{path.stem}" for path in tasks_dir.glob("*.py") if path.stem != "__init__"
    )


def cumulative_microseconds(importtime_output: str, module: str) -> int | None:
    """The cumulative time ``-X importtime`` reports for ``module`` at the top level."""
    for line in importtime_output.splitlines():
        match = _LINE.match(line)
        if match and match.group(4) == module and len(match.group(3)) <= 1:
            return int(match.group(2))
    return None


def environment(kind: str, module: str) -> dict[str, str]:
    """The environment of one measured process."""
    env = {key: value for key, value in os.environ.items() if key not in _REMOVED}
    env.update({"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"})
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    if kind == LAMBDA:
        env.update(
            {
                "LAMBDA_TASK_ROOT": str(REPO),
                "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
                "AWS_LAMBDA_FUNCTION_NAME": f"fargate-bastion-{module.rpartition('.')[2]}",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "_HANDLER": f"{module}.handler",
                "POWERTOOLS_SERVICE_NAME": "fargate-bastion",
            }
        )
    return env


def _program(module: str) -> str:
    """Import boto3, then the module, printing the CPU seconds the module's import took."""
    return (
        "import time, boto3; started = time.process_time(); "
        f"import {module}; print(time.process_time() - started)"
    )


@dataclass(frozen=True)
class Sample:
    """One process: wall-clock microseconds (``-X importtime``) and CPU seconds."""

    wall_microseconds: int
    cpu_seconds: float


def measure_once(module: str, kind: str, python: str = sys.executable) -> Sample | None:
    """One fresh process importing ``module`` after boto3 (None if it failed)."""
    completed = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [python, "-X", "importtime", "-c", _program(module)],
        capture_output=True,
        text=True,
        env=environment(kind, module),
        cwd=REPO,
        timeout=60,
        check=False,
    )
    if completed.returncode != 0:
        return None
    wall = cumulative_microseconds(completed.stderr, module)
    try:
        cpu = float(completed.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return None
    return None if wall is None else Sample(wall, cpu)


@dataclass(frozen=True)
class ImportTiming:
    """One module's import times in one environment, milliseconds."""

    module: str
    kind: str
    #: Wall-clock, as ``-X importtime`` reports it.
    samples_ms: tuple[float, ...]
    #: CPU time of the same imports (less sensitive to other load on the machine).
    cpu_ms: tuple[float, ...]
    failures: int

    @property
    def median_ms(self) -> float | None:
        return statistics.median(self.samples_ms) if self.samples_ms else None

    @property
    def median_cpu_ms(self) -> float | None:
        return statistics.median(self.cpu_ms) if self.cpu_ms else None


def measure(modules: Sequence[str], runs: Mapping[str, int]) -> dict[tuple[str, str], ImportTiming]:
    """``runs[kind]`` fresh processes per module and environment, interleaved round by round
    (so a burst of load elsewhere on the machine spreads over every module)."""
    samples: dict[tuple[str, str], list[Sample]] = {(m, k): [] for m in modules for k in runs}
    failures: dict[tuple[str, str], int] = dict.fromkeys(samples, 0)
    for round_number in range(max(runs.values(), default=0)):
        for module in modules:
            for kind, count in runs.items():
                if round_number >= count:
                    continue
                sample = measure_once(module, kind)
                if sample is None:
                    failures[(module, kind)] += 1
                else:
                    samples[(module, kind)].append(sample)
    return {
        key: ImportTiming(
            key[0],
            key[1],
            tuple(sample.wall_microseconds / 1000 for sample in values),
            tuple(sample.cpu_seconds * 1000 for sample in values),
            failures[key],
        )
        for key, values in samples.items()
    }


def load_average() -> float | None:
    """The 1-minute load average, where the platform has one."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None

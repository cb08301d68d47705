"""X-Ray traces the functions' AWS calls, and a cold start imports nothing else for it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tasks.common.observability import TRACED_MODULES

REPO = Path(__file__).resolve().parents[2]
#: Libraries X-Ray's SDK patches when asked to patch all it knows; none is used here.
UNUSED_TRACED_LIBRARIES = ("requests", "httpx", "aiobotocore", "pymysql", "psycopg2", "sqlite3")

PROBE = """
import json, sys
import boto3
import {module}
from aws_xray_sdk.core import patcher
print(json.dumps({{"patched": sorted(patcher._PATCHED_MODULES), "imported": sorted(sys.modules)}}))
"""


def cold_import(module: str) -> dict[str, list[str]]:
    """Import ``module`` in a fresh interpreter set up as Lambda runs it, with tracing on."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("POWERTOOLS_TRACE_DISABLED", "PYTHONPROFILEIMPORTTIME")
    }
    env.update(
        LAMBDA_TASK_ROOT="/var/task",
        AWS_LAMBDA_FUNCTION_NAME="fargate-bastion-Function",
        AWS_DEFAULT_REGION="us-east-1",
        PYTHONPATH=str(REPO),
    )
    done = subprocess.run(  # noqa: S603 - this interpreter, a fixed probe
        [sys.executable, "-c", PROBE.format(module=module)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.parametrize("module", ["tasks.api", "tasks.run_bastion_task"])
def test_a_handler_traces_its_aws_calls_and_patches_nothing_else(module: str) -> None:
    # GIVEN a handler imported as a Lambda cold start imports it, tracing on
    seen = cold_import(module)
    # THEN X-Ray patched botocore (every AWS call is a subsegment) and nothing else
    assert seen["patched"] == sorted(TRACED_MODULES) == ["botocore"]
    # AND none of the libraries patching everything would import was imported
    imported = set(seen["imported"])
    assert not imported & set(UNUSED_TRACED_LIBRARIES), imported & set(UNUSED_TRACED_LIBRARIES)

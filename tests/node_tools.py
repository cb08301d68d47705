"""The npm packages the tests use, installed in tools/node by `make test` (``npm ci``).

tools/node/package.json and package-lock.json pin them: aws-local-stepfunctions (a second
ASL interpreter, tests/engines) and amazon-states-language-service (AWS's ASL language
service, tests/template). Each script of tools/node runs in one Node process per batch.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NODE_TOOLS = ROOT / "tools" / "node"


def unavailable(package: str) -> str | None:
    """Why ``package`` cannot be run here, or None when it can."""
    if shutil.which("node") is None:
        return f"no `node` on PATH (Node 20+ runs {package})"
    if not (NODE_TOOLS / "node_modules" / package / "package.json").is_file():
        return (
            f"{package} is not installed in tools/node "
            "(`make test` installs it: cd tools/node && npm ci)"
        )
    return None


def run_script(
    script: str, args: Sequence[str] = (), *, stdin: str = "", timeout: float = 300.0
) -> str:
    """Run ``tools/node/<script>``; its standard output (a RuntimeError when it fails)."""
    completed = subprocess.run(  # noqa: S603 - a fixed script of the repository
        ["node", str(NODE_TOOLS / script), *args],  # noqa: S607 - node from PATH
        input=stdin,
        capture_output=True,
        text=True,
        cwd=NODE_TOOLS,
        timeout=timeout,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"node {script} failed:\n{completed.stderr[-4000:]}")
    return completed.stdout

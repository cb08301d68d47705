"""AWS's ASL language service finds nothing to report in any rendered machine.

`amazon-states-language-service` (npm, MIT, pinned in tools/node) is the validator of the
AWS Toolkit: the States Language's JSON schema plus its own checks (every ``Next`` names a
state, every state is reachable, which intrinsic functions a field accepts...). Every
rendered machine must get zero diagnostics, errors and warnings alike; copies with planted
errors show that the same run reports each of them.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.node_tools import run_script, unavailable
from workflows.machines import ASL_DIR, MACHINES

pytestmark = pytest.mark.template

SERVICE = "amazon-states-language-service"


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def plant(definition: dict[str, Any]) -> None:
        holder = definition
        for key in path[:-1]:
            holder = holder[key]
        holder[path[-1]] = value

    return plant


#: Errors planted in copies of the session machine, each with what the service must say.
PLANTED: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "next-names-no-state": (
        _set(("States", "FindControlPlane", "Next"), "NoSuchState"),
        '"Next" property must be the name of an existing state',
    ),
    "choice-names-no-state": (
        _set(("States", "IsTeardownComplete", "Choices", 0, "Next"), "Gone"),
        '"Next" property must be the name of an existing state',
    ),
    "function-not-allowed-in-cause-path": (
        _set(("States", "SessionFailed", "CausePath"), "States.Array($.error.Cause)"),
        "intrinsic function expression that returns a string",
    ),
    "unknown-field": (
        _set(("States", "BastionReady", "Retries"), 3),
        "Field is not supported",
    ),
    "retry-attempts-not-a-number": (
        _set(("States", "StopBastionTask", "Retry", 0, "MaxAttempts"), "ten"),
        'Incorrect type. Expected "integer"',
    ),
    "unreachable-state": (
        _set(("States", "Orphan"), {"Type": "Succeed"}),
        "The state cannot be reached",
    ),
}


def _diagnostics(files: list[Path]) -> dict[str, list[dict[str, Any]]]:
    reason = unavailable(SERVICE)
    if reason is not None:
        pytest.fail(f"AWS's ASL language service cannot run: {reason}")
    return dict(json.loads(run_script("validate-asl.mjs", [str(path) for path in files])))


@pytest.fixture(scope="module")
def diagnostics(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """The service's diagnostics for every rendered machine and every planted copy, from
    one Node process."""
    planted_dir = tmp_path_factory.mktemp("planted")
    session = json.loads((ASL_DIR / "session.asl.json").read_text(encoding="utf-8"))
    files = [ASL_DIR / name for name in MACHINES]
    for name, (plant, _) in PLANTED.items():
        broken = copy.deepcopy(session)
        plant(broken)
        path = planted_dir / f"{name}.asl.json"
        path.write_text(json.dumps(broken, indent=2), encoding="utf-8")
        files.append(path)
    found = _diagnostics(files)
    return {Path(file).name.removesuffix(".asl.json"): items for file, items in found.items()}


@pytest.mark.parametrize("file_name", sorted(MACHINES))
def test_every_rendered_machine_has_no_diagnostics(
    diagnostics: dict[str, list[dict[str, Any]]], file_name: str
) -> None:
    assert diagnostics[file_name.removesuffix(".asl.json")] == []


@pytest.mark.parametrize("planted", sorted(PLANTED))
def test_a_planted_error_is_reported(
    diagnostics: dict[str, list[dict[str, Any]]], planted: str
) -> None:
    _, expected = PLANTED[planted]
    messages = [item["message"] for item in diagnostics[planted] if item["severity"] == "error"]
    assert any(expected in message for message in messages), messages

"""The local AWS is one-way: the knobs tests turn hold state and import nothing of moto,
the patches of moto use them, and no module of bastion.local imports itself back."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import bastion.local
from bastion.local.patch_index import PATCHES

pytestmark = pytest.mark.local

PACKAGE = Path(bastion.local.__file__).parent
#: The knobs: faults, ECS and EC2 control, the event bus, the action log, the active switch.
KNOBS = ("faults", "actions", "ec2_control", "ecs_control", "eventbridge", "active")


def _tree(module: str) -> ast.Module:
    return ast.parse((PACKAGE / f"{module}.py").read_text(), f"{module}.py")


def _imported(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.module and not node.level:
        if node.module == "bastion.local":
            return [f"bastion.local.{alias.name}" for alias in node.names]
        return [node.module]
    return []


def _runtime_imports(tree: ast.Module) -> set[str]:
    """What a module imports when it runs: on import or inside its functions (not what it
    imports for type checking only)."""
    found: set[str] = set()
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            pending.extend(node.orelse)
            continue
        found.update(_imported(node))
        pending.extend(ast.iter_child_nodes(node))
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle in ``graph``, or None."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return None
        for imported in sorted(graph.get(module, ())):
            found = visit(imported, [*path, module])
            if found:
                return found
        done.add(module)
        return None

    return next(filter(None, (visit(module, []) for module in sorted(graph))), None)


@pytest.mark.parametrize("knob", KNOBS)
def test_a_knob_module_imports_nothing_of_moto(knob: str) -> None:
    moto = sorted(
        name
        for node in ast.walk(_tree(knob))
        for name in _imported(node)
        if name == "moto" or name.startswith("moto.")
    )
    assert moto == [], f"bastion.local.{knob} imports {moto}"


def test_no_module_of_the_local_aws_imports_itself_back() -> None:
    modules = sorted(path.stem for path in PACKAGE.glob("*.py") if path.stem != "__init__")
    graph = {
        module: {
            name.removeprefix("bastion.local.")
            for name in _runtime_imports(_tree(module))
            if name.removeprefix("bastion.local.") in modules
        }
        for module in modules
    }
    assert _cycle(graph) is None


def test_each_patch_is_made_by_a_module_outside_the_knobs() -> None:
    for patch in PATCHES:
        assert (PACKAGE / f"{patch.module}.py").is_file(), patch
        assert patch.module not in KNOBS, patch
        assert "replace_attribute" in (PACKAGE / f"{patch.module}.py").read_text(), patch

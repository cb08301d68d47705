"""Installing the local AWS fails loudly unless moto is the pinned release and every
patched part still has the shape its patch expects; the index lists every patch."""

from __future__ import annotations

from importlib.metadata import version

import pytest

from bastion.local.patch_index import PATCHES, PINNED_MOTO_VERSION
from bastion.local.patches import install_patches
from bastion.local.patching import PatchMismatch, check_moto_version, replace_attribute, replaced

pytestmark = pytest.mark.local


def test_the_installed_moto_is_the_pinned_release() -> None:
    assert version("moto") == PINNED_MOTO_VERSION
    check_moto_version()


@pytest.mark.parametrize("other", ["5.2.4", "5.2.6", "5.3.0.dev1", "6.0.0"])
def test_any_other_moto_release_is_refused_naming_both(other: str) -> None:
    with pytest.raises(PatchMismatch, match=f"moto {other} is installed") as refused:
        check_moto_version(other)
    assert f"moto=={PINNED_MOTO_VERSION}" in str(refused.value)


def test_every_patch_in_the_index_is_applied_and_nothing_else() -> None:
    # Installing checked each one's shape; the index and what is patched are the same set.
    install_patches()
    assert replaced() == {(patch.owner, patch.attribute) for patch in PATCHES}
    assert len({(patch.owner, patch.attribute) for patch in PATCHES}) == len(PATCHES)
    for patch in PATCHES:
        assert patch.gap, patch


def _moved(name: str, module: str, qualname: str, namespace: dict) -> type:
    """A class that the index takes for one of moto's, with its own (moved) members."""
    moved = type(name, (), namespace)
    moved.__module__, moved.__qualname__ = module, qualname
    return moved


def test_a_patched_method_whose_parameters_moved_is_refused() -> None:
    # GIVEN moto's LambdaFunction.invoke with one parameter renamed
    def invoke(self, payload, request_headers, response_headers):  # type: ignore[no-untyped-def]
        return None

    moved = _moved("LambdaFunction", "moto.awslambda.models", "LambdaFunction", {"invoke": invoke})

    # WHEN the patch is applied, THEN it refuses, naming what moved, and patches nothing
    with pytest.raises(PatchMismatch, match=r"LambdaFunction\.invoke has changed shape") as err:
        replace_attribute(moved, "invoke", lambda original: None)
    assert "(self, body, request_headers, response_headers)" in str(err.value)
    assert "(self, payload, request_headers, response_headers)" in str(err.value)
    assert moved.invoke is invoke  # type: ignore[attr-defined]


def test_a_patched_attribute_that_is_gone_or_a_property_no_more_is_refused() -> None:
    gone = _moved("Task", "moto.ecs.models", "Task", {})
    with pytest.raises(PatchMismatch, match=r"Task\.status no longer exists"):
        replace_attribute(gone, "status", lambda original: original)

    def status(self):  # type: ignore[no-untyped-def]
        return "RUNNING"

    plain = _moved("Task", "moto.ecs.models", "Task", {"status": status})
    with pytest.raises(PatchMismatch, match=r"expects property\(self\), moto has \(self\)"):
        replace_attribute(plain, "status", lambda original: original)


def test_a_patch_missing_from_the_index_is_refused() -> None:
    unlisted = _moved("Cluster", "moto.ecs.models", "Cluster", {"describe": lambda self: None})
    with pytest.raises(PatchMismatch, match="not listed in bastion/local/patch_index.py"):
        replace_attribute(unlisted, "describe", lambda original: original)

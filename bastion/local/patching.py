"""Replace an attribute of a moto class or module once per process, keeping the original.

Every replacement must be listed in :mod:`bastion.local.patch_index`, and what it replaces
must still have the shape recorded there; otherwise installing the local AWS fails loudly,
naming the attribute, instead of patching something moto has since changed.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

from bastion.local.patch_index import PINNED_MOTO_VERSION, patch_for

_replaced: set[tuple[Any, str]] = set()
#: The shape of an attribute moto does not have, which a patch adds (an API action).
ABSENT = "absent"


class PatchMismatch(RuntimeError):
    """moto is not the release the patches were written for, or a patched part moved."""


def check_moto_version(installed: str | None = None) -> None:
    """Fail unless the installed moto is the pinned release."""
    installed = installed if installed is not None else version("moto")
    if installed != PINNED_MOTO_VERSION:
        raise PatchMismatch(
            f"the local AWS patches moto {PINNED_MOTO_VERSION}'s internals, but moto "
            f"{installed} is installed: install moto=={PINNED_MOTO_VERSION} "
            "(pyproject.toml pins it), or port every patch in bastion/local/patch_index.py"
        )


def owner_name(owner: Any) -> str:
    """``package.module.Class`` or ``package.module``: how the index names an owner."""
    if isinstance(owner, types.ModuleType):
        return owner.__name__
    return f"{owner.__module__}.{owner.__qualname__}"


def _parameters(function: Any) -> str:
    parameters = inspect.signature(function).parameters.values()
    bare = (p.replace(annotation=p.empty, default=p.empty) for p in parameters)
    return "(" + ", ".join(str(p) for p in bare) + ")"


def shape_of(attribute: Any) -> str:
    """The shape the index records for ``attribute`` (see :class:`Patch.shape`)."""
    if isinstance(attribute, types.ModuleType):
        return "module"
    if isinstance(attribute, property):
        return "property" + _parameters(attribute.fget)
    if isinstance(attribute, staticmethod):
        return "staticmethod" + _parameters(attribute.__func__)
    if attribute is object.__init__:
        return "object.__init__"
    return _parameters(attribute)


def replace_attribute(owner: Any, name: str, build: Callable[[Any], Any]) -> None:
    """Set ``owner.name`` to ``build(original)``; a second call for the same pair does nothing.

    ``original`` is the raw attribute (a function, ``staticmethod`` or ``property``, looked up
    through the class hierarchy), so ``build`` can wrap whatever kind it is; None for an
    attribute the index records as :data:`ABSENT` (one moto lacks, added). Raises
    :class:`PatchMismatch` if the pair is not in the index or its shape changed.
    """
    key = (owner, name)
    if key in _replaced:
        return
    where = f"{owner_name(owner)}.{name}"
    entry = patch_for(owner_name(owner), name)
    if entry is None:
        raise PatchMismatch(f"{where} is patched but not listed in bastion/local/patch_index.py")
    try:
        original = inspect.getattr_static(owner, name)
    except AttributeError:
        if entry.shape != ABSENT:
            raise PatchMismatch(
                f"{where} no longer exists in this moto: its patch cannot apply"
            ) from None
        original = None
    found = ABSENT if original is None else shape_of(original)
    if found != entry.shape:
        raise PatchMismatch(
            f"{where} has changed shape: the patch expects {entry.shape}, moto has {found}"
        )
    setattr(owner, name, build(original))
    _replaced.add(key)


def replaced() -> set[tuple[str, str]]:
    """The (owner, attribute) pairs replaced so far in this process."""
    return {(owner_name(owner), name) for owner, name in _replaced}

"""Replace an attribute of a moto class or module once per process, keeping the original."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

_replaced: set[tuple[Any, str]] = set()


def replace_attribute(owner: Any, name: str, build: Callable[[Any], Any]) -> None:
    """Set ``owner.name`` to ``build(original)``; a second call for the same pair does nothing.

    ``original`` is the raw attribute (a function, ``staticmethod`` or ``property``, looked up
    through the class hierarchy), so ``build`` can wrap whatever kind it is.
    """
    key = (owner, name)
    if key in _replaced:
        return
    original = inspect.getattr_static(owner, name)
    setattr(owner, name, build(original))
    _replaced.add(key)

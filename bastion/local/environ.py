"""Temporary changes to ``os.environ`` that are always undone."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager


@contextmanager
def patched_environ(values: Mapping[str, str], remove: Iterable[str] = ()) -> Iterator[None]:
    """Set ``values`` and unset ``remove`` in ``os.environ``; restore both on exit."""
    removed = tuple(remove)
    saved = {name: os.environ.get(name) for name in (*values, *removed)}
    try:
        for name in removed:
            os.environ.pop(name, None)
        os.environ.update(values)
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class ThreadOverlayEnviron(MutableMapping[str, str]):
    """``os.environ`` as every thread sees it, plus changes only one thread sees.

    An in-process Lambda handler needs its function's variables in ``os.environ``, but
    the workflow's other threads copy ``os.environ`` at the same time (botocore does,
    whenever it makes a client). Changing the real mapping under them makes those copies
    fail with a KeyError; an overlay per thread changes nothing they can see.
    """

    def __init__(self, base: MutableMapping[str, str]) -> None:
        self.base = base
        self._local = threading.local()

    def _overlay(self) -> dict[str, str | None] | None:
        overlay: dict[str, str | None] | None = getattr(self._local, "overlay", None)
        return overlay

    @contextmanager
    def overlay(self, values: Mapping[str, str]) -> Iterator[None]:
        """Within the block, this thread alone sees ``values`` (and its own changes)."""
        previous = self._overlay()
        self._local.overlay = {**(previous or {}), **values}
        try:
            yield
        finally:
            self._local.overlay = previous

    def __getitem__(self, key: str) -> str:
        overlay = self._overlay()
        if overlay is not None and key in overlay:
            value = overlay[key]
            if value is None:
                raise KeyError(key)
            return value
        return self.base[key]

    def __setitem__(self, key: str, value: str) -> None:
        overlay = self._overlay()
        if overlay is None:
            self.base[key] = value
        else:
            overlay[key] = value

    def __delitem__(self, key: str) -> None:
        overlay = self._overlay()
        if overlay is None:
            del self.base[key]
            return
        if key not in self:
            raise KeyError(key)
        overlay[key] = None

    def __iter__(self) -> Iterator[str]:
        overlay = self._overlay() or {}
        keys = [key for key in list(self.base) if overlay.get(key, "") is not None]
        keys += [
            key for key, value in overlay.items() if value is not None and key not in self.base
        ]
        return iter(keys)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def copy(self) -> dict[str, str]:
        """A plain dict of what this thread sees (``os.environ.copy()``)."""
        return dict(self)


def install_thread_overlay() -> ThreadOverlayEnviron:
    """Make ``os.environ`` a :class:`ThreadOverlayEnviron` (once per process)."""
    if not isinstance(os.environ, ThreadOverlayEnviron):
        # Replaced on purpose (not cleared): the real mapping stays underneath as `base`.
        os.environ = ThreadOverlayEnviron(os.environ)  # type: ignore[assignment]  # noqa: B003
    return os.environ  # type: ignore[return-value]


@contextmanager
def thread_environ(values: Mapping[str, str]) -> Iterator[None]:
    """Set ``values`` in ``os.environ`` for this thread only, for the block's duration."""
    with install_thread_overlay().overlay(values):
        yield

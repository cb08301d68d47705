"""How long the local AWS and its tests wait for something before saying it never came.

Every wait returns as soon as its condition holds, so only a wait for something that never
happens lasts the whole deadline: it is far longer than anything takes on a loaded machine.
"""

from __future__ import annotations

import threading

#: The deadline of a wait unless its caller gives one.
WAIT_SECONDS = 300.0


def join(thread: threading.Thread, what: str, timeout: float = WAIT_SECONDS) -> None:
    """Wait for ``thread`` to end; RuntimeError naming ``what`` if it still runs after
    ``timeout`` seconds (it would go on acting on whatever runs next in this process)."""
    thread.join(timeout)
    if thread.is_alive():
        raise RuntimeError(f"{what} still runs {timeout:.0f} s after being told to stop")

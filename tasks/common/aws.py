"""AWS clients: made lazily, once per process, never at import time.

Lazy creation lets the embedded local AWS intercept every call; :func:`reset_clients`
forgets them when the local AWS starts afresh.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3})


@cache
def client(service: str) -> Any:
    """The process-wide boto3 client for ``service`` in the function's region."""
    return boto3.client(service, config=_CONFIG)  # type: ignore[call-overload]


def reset_clients() -> None:
    """Forget every cached client (the local AWS calls this when it starts)."""
    client.cache_clear()

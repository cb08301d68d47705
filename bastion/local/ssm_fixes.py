"""SSM Parameter Store read while another thread writes the same parameter.

moto's ``put_parameter`` creates a parameter's version list before it appends the first
version, so a ``get_parameter`` from another thread in between hits an empty list
(IndexError). On AWS a parameter being created is simply not there yet: answer that.
"""

from __future__ import annotations

from typing import Any

from bastion.local.active import current
from bastion.local.patching import replace_attribute


def _not_there_while_created(original: Any) -> Any:
    def get_parameter(self: Any, name: str) -> Any:
        try:
            return original(self, name)
        except IndexError:
            if current() is None:
                raise
            return None  # moto answers ParameterNotFound for None

    return get_parameter


def install() -> None:
    """Patch moto's SSM backend."""
    from moto.ssm.models import SimpleSystemManagerBackend

    replace_attribute(SimpleSystemManagerBackend, "get_parameter", _not_there_while_created)

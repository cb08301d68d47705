"""What a local AWS holds, copied, so that another local AWS can start from it.

Deploying ``template.yaml`` costs about a second of CPU (translation, IAM, state machines);
copying what the deployment made costs a few milliseconds. moto keeps each service's
resources in backends, one per account and region, reached from one ``BackendDict`` per
service; ``BackendDict._instances`` lists those that hold anything (the ones moto resets
when a mock starts). A copy is one ``deepcopy`` of them all, so resources that refer to
each other across services still do, and every restore installs a copy of its own: what a
restored local AWS does never reaches the copy or another restore.
"""

from __future__ import annotations

import copy
import copyreg
from dataclasses import dataclass
from functools import cache
from typing import Any


@dataclass(frozen=True)
class Snapshot:
    """Everything a local AWS held at one moment: moto's resources, the stacks deployed
    and how many clusters were seeded (the next seeded cluster's network follows on)."""

    region: str
    iam_managed_policies: bool
    #: Each ``BackendDict`` that held anything, with a copy of its account → region → backend.
    backends: tuple[tuple[Any, dict[str, dict[str, Any]]], ...]
    stacks: tuple[Any, ...]
    clusters_seeded: int


def _reduce_parameter_dict(parameters: Any) -> tuple[Any, ...]:
    """SSM's parameter store: a defaultdict whose constructor takes an account and region
    (the default reduction of a defaultdict passes its factory instead)."""
    arguments = (parameters.account_id, parameters.region_name)
    return type(parameters), arguments, dict(vars(parameters)), None, iter(parameters.items())


@cache
def _teach_copy() -> None:
    """Tell ``copy`` how to copy what moto holds that it cannot copy by itself."""
    from moto.ssm.models import ParameterDict

    copyreg.pickle(ParameterDict, _reduce_parameter_dict)


def _backend_dicts() -> list[Any]:
    from moto.core.base_backend import BackendDict

    # The services moto resets when a mock starts: those that hold anything.
    instances: list[Any] = BackendDict._instances  # type: ignore[misc]
    return list(instances)


def copy_backends() -> tuple[tuple[Any, dict[str, dict[str, Any]]], ...]:
    """A deep copy of every moto backend that holds anything; call it while none changes."""
    from moto.core.base_backend import AccountSpecificBackend, BackendDict

    _teach_copy()
    holders = _backend_dicts()
    contents = [{account: dict(regions) for account, regions in h.items()} for h in holders]
    memo: dict[int, Any] = {}
    try:
        copied = copy.deepcopy(contents, memo)
    except TypeError as error:  # a lock or thread: what an execution leaves, for one
        raise RuntimeError(f"what moto holds cannot be copied now: {error}") from error
    # A resource holding a whole service's backends would get a copy of them of its own,
    # and read stale data ever after.
    if any(isinstance(v, BackendDict | AccountSpecificBackend) for v in memo.values()):
        raise RuntimeError("a moto resource holds a service's backends: it cannot be copied")
    return tuple(zip(holders, copied, strict=True))


def install_backends(backends: tuple[tuple[Any, dict[str, dict[str, Any]]], ...]) -> None:
    """Make moto hold a fresh copy of ``backends``: only while it holds nothing yet."""
    holding = sorted(h.service_name for h in _backend_dicts() if len(h))
    if holding:
        raise RuntimeError(
            "a snapshot is restored only into a local AWS that holds nothing yet; this one "
            f"already holds resources of {', '.join(holding)}"
        )
    copied = copy.deepcopy([contents for _, contents in backends])
    for (holder, _), accounts in zip(backends, copied, strict=True):
        for account, regions in accounts.items():
            for region, backend in regions.items():
                holder[account][region] = backend

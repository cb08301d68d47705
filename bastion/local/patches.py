"""Install every patch of moto, once per process.

Each patch keeps moto's original behaviour while no :class:`~bastion.local.LocalAws` runs,
so installing them never changes a plain ``mock_aws`` test. Installing fails loudly on any
moto but the pinned release, and on any patched part whose shape moved
(:mod:`bastion.local.patching`, :mod:`bastion.local.patch_index`).
"""

from __future__ import annotations

import threading

from bastion.local import (
    aws_calls,
    clock,
    cloudwatch_logs,
    ec2_network,
    ec2_tags,
    ecs_fargate,
    eks_clusters,
    lambda_runtime,
    put_events,
    ssm_fixes,
    ssm_sessions,
    stepfunctions_fixes,
    task_timeouts,
)
from bastion.local.patching import check_moto_version

_lock = threading.Lock()
_installed = False


def install_patches() -> None:
    """Install the local AWS's patches of moto (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        check_moto_version()
        for module in (
            aws_calls,
            lambda_runtime,
            clock,
            stepfunctions_fixes,
            ec2_network,
            ec2_tags,
            ecs_fargate,
            eks_clusters,
            put_events,
            ssm_fixes,
            ssm_sessions,
            cloudwatch_logs,
            task_timeouts,
        ):
            module.install()
        _installed = True

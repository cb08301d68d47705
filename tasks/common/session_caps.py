"""Caps on running sessions: per caller, per cluster and per stack.

A session counts from the moment its execution starts until its execution ends (setup,
hold and teardown alike), so the count is the session machine's RUNNING executions: one
ListExecutions page per thousand running sessions and, only once as many run as the
smallest of the caller and cluster caps, one DescribeExecution (to read who asked, for
which cluster) per running session; never the executions that have ended.

Race-safe by order, not by lock: every execution ranks itself among the RUNNING ones by
(start time, name), a total order every concurrent check agrees on, and passes only if
fewer than the cap of its caller, its cluster and the stack started before it. Of a burst
of simultaneous starts, exactly the first N pass. An execution that is refused still
counts while it tears down (a few seconds): the check errs on the side of refusing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tasks.common.errors import SessionLimitReached
from tasks.common.settings import Settings


@dataclass(frozen=True)
class RunningSession:
    """A RUNNING execution of the session machine, and what its input says."""

    started_at: datetime
    session_id: str
    requested_by: str | None = None
    cluster: str | None = None

    @property
    def order(self) -> tuple[datetime, str]:
        """The order every check ranks by: start time, then name (names are unique)."""
        return (self.started_at, self.session_id)


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _text(request: Mapping[str, Any], key: str) -> str | None:
    value = request.get(key)
    return value if isinstance(value, str) else None


def running_executions(sfn: Any, machine_arn: str) -> list[dict[str, Any]]:
    """The machine's RUNNING executions as ListExecutions gives them, oldest first."""
    listed: list[dict[str, Any]] = []
    for page in sfn.get_paginator("list_executions").paginate(
        stateMachineArn=machine_arn, statusFilter="RUNNING", PaginationConfig={"PageSize": 1000}
    ):
        listed.extend(page["executions"])
    listed.sort(key=lambda e: (_utc(e["startDate"]), str(e["name"])))
    return listed


def describe_running(sfn: Any, execution: Mapping[str, Any]) -> RunningSession:
    """One running execution with its requester and cluster (None where unreadable)."""
    described = sfn.describe_execution(executionArn=execution["executionArn"])
    try:
        request = json.loads(described.get("input") or "{}")
    except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes
        request = {}
    if not isinstance(request, dict):
        request = {}
    return RunningSession(
        started_at=_utc(execution["startDate"]),
        session_id=str(execution["name"]),
        requested_by=_text(request, "requestedBy"),
        cluster=_text(request, "cluster"),
    )


def running_sessions(sfn: Any, machine_arn: str) -> list[RunningSession]:
    """Every running session, oldest first."""
    return [describe_running(sfn, e) for e in running_executions(sfn, machine_arn)]


def check_session_caps(
    sfn: Any,
    settings: Settings,
    *,
    requested_by: str,
    cluster: str,
    session_id: str | None = None,
    started_at: datetime | None = None,
) -> None:
    """Refuse a session the caps leave no room for (SessionLimitReached naming the cap).

    Only the executions ordered before the session ``session_id`` count: its own listed
    start time when it runs (ValidateRequest, or a retried POST), else ``started_at``,
    else now (a session about to be started, checked against every running one).
    """
    executions = running_executions(sfn, settings.session_state_machine_arn)
    if session_id is None:
        order = (datetime.max.replace(tzinfo=UTC), "")
    else:
        listed = [e for e in executions if e["name"] == session_id]
        start = _utc(listed[0]["startDate"]) if listed else _utc(started_at or datetime.now(UTC))
        order = (start, session_id)
    before = [e for e in executions if (_utc(e["startDate"]), str(e["name"])) < order]
    candidate = RunningSession(order[0], session_id or "", requested_by, cluster)
    if len(before) < min(settings.max_sessions_per_caller, settings.max_sessions_per_cluster):
        # Fewer sessions run than the smallest cap: none can be full, nothing to read.
        check_caps(
            candidate,
            [RunningSession(_utc(e["startDate"]), str(e["name"])) for e in before],
            settings,
        )
        return
    check_caps(candidate, [describe_running(sfn, e) for e in before], settings)


def check_caps(
    candidate: RunningSession, earlier: Iterable[RunningSession], settings: Settings
) -> None:
    """Refuse ``candidate`` if the sessions started before it already fill a cap."""
    earlier = [s for s in earlier if s.session_id != candidate.session_id]
    mine = sum(1 for s in earlier if s.requested_by == candidate.requested_by)
    if mine >= settings.max_sessions_per_caller:
        raise SessionLimitReached(
            "MaxSessionsPerCaller",
            f"{candidate.requested_by} already has {mine} running session(s), the most this "
            f"stack allows one caller ({settings.max_sessions_per_caller}); end one and retry",
        )
    on_cluster = sum(1 for s in earlier if s.cluster == candidate.cluster)
    if on_cluster >= settings.max_sessions_per_cluster:
        raise SessionLimitReached(
            "MaxSessionsPerCluster",
            f"cluster {candidate.cluster!r} already has {on_cluster} running session(s), the "
            f"most this stack allows on one cluster ({settings.max_sessions_per_cluster}); "
            "retry when one has ended",
        )
    if len(earlier) >= settings.max_sessions_per_stack:
        raise SessionLimitReached(
            "MaxSessionsPerStack",
            f"this stack already runs {len(earlier)} session(s), the most it allows "
            f"({settings.max_sessions_per_stack}); retry when one has ended",
        )

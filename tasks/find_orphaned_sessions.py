"""FindOrphanedSessions (sweeper): the sessions whose resources outlived their execution.

Gathers the session ids on every resource tagged with this stack's name and a session
(security groups, control-plane rules, bastion tasks) and on the hold parameters under
this stack's prefix, and keeps those whose session execution is not
RUNNING (or does not exist), or still runs although it is past its expiry plus a grace
period. The sweeper tears each one down with the same chain as everywhere else.
Another stack's resources are never looked at, and a tag value that is not a valid
session id (``*``, say, which EC2 filters read as a wildcard) is logged and skipped.

One sweep takes at most ``MAX_SESSIONS_PER_SWEEP`` of them; the rest wait for the next
sweep. Which ones is drawn afresh for each sweep, so sessions that cannot be torn down
never keep the others waiting for ever.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from tasks.common.aws import client
from tasks.common.bastion_tasks import STARTED_BY, ecs_tag, require_ecs_cluster
from tasks.common.models import parse_timestamp, require
from tasks.common.observability import error_code, logger, task_handler
from tasks.common.security_groups import describe_groups, describe_rules
from tasks.common.settings import Settings, load_settings
from tasks.common.tags import EXPIRES_AT_TAG, SESSION_TAG, STACK_TAG, stack_filter
from tasks.common.validation import SESSION_ID_PATTERN

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

#: DescribeTasks takes at most this many tasks per call.
_DESCRIBE_BATCH = 100

#: Sessions one sweep tears down at most. The sweeper's inline Map writes every
#: iteration's events into the sweep's own history, and an execution fails at 25,000
#: events: a teardown takes about 30, and up to about 570 were every retrier of every
#: step to run out, so that even then this many fit (a test checks it against the ASL).
MAX_SESSIONS_PER_SWEEP = 40
HOLD_PARAMETER = "hold parameter"


@dataclass(frozen=True)
class FindOrphanedSessionsInput:
    """The task's input: the sweeper's execution name (for the logs) and start time."""

    sweep_id: str
    sweep_started_at: datetime

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> FindOrphanedSessionsInput:
        started = require(event, "sweepStartedAt")
        try:
            moment = parse_timestamp(str(started))
        except ValueError:
            raise ValueError(f"sweepStartedAt is not a timestamp: {started!r}") from None
        return cls(sweep_id=str(require(event, "sessionId")), sweep_started_at=moment)


@dataclass(frozen=True)
class OrphanedSessions:
    """The task's output."""

    session_ids: tuple[str, ...]
    examined: int
    deferred: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "sessionIds": list(self.session_ids),
            "examined": self.examined,
            "deferred": self.deferred,
        }


@dataclass
class _Owner:
    """What the tags say about one session that owns something."""

    kinds: set[str]
    expires_at: datetime | None = None

    def saw(self, kind: str, expires_at: str | None) -> None:
        self.kinds.add(kind)
        # The hold parameter's expiry follows the session's extensions; the tags keep
        # the expiry the session started with. The hold's, when there is one, wins.
        if expires_at and (self.expires_at is None or kind == HOLD_PARAMETER):
            try:
                self.expires_at = parse_timestamp(expires_at)
            except ValueError:
                logger.warning("ignored a malformed expiry tag", extra={"expiresAt": expires_at})


def _tag(tags: Iterable[Mapping[str, str]] | None, key: str) -> str | None:
    return next((tag.get("Value") for tag in tags or [] if tag.get("Key") == key), None)


def _session_owners(ec2: Any, ecs: Any, ssm: Any, settings: Settings) -> dict[str, _Owner]:
    """Every session id found on a session-tagged resource, with its expiry."""
    owners: dict[str, _Owner] = {}

    def saw(session_id: str | None, kind: str, expires_at: str | None) -> None:
        if not session_id:
            return
        if not SESSION_ID_PATTERN.fullmatch(session_id):
            logger.warning(
                "ignored a resource whose session tag is not a session id",
                extra={"kind": kind, "sessionTag": session_id[:100]},
            )
            return
        owners.setdefault(session_id, _Owner(set())).saw(kind, expires_at)

    owned = stack_filter(settings.stack_name)
    for group in describe_groups(ec2, owned):
        tags = group.get("Tags")
        saw(_tag(tags, SESSION_TAG), "security group", _tag(tags, EXPIRES_AT_TAG))
    for rule in describe_rules(ec2, owned):
        tags = rule.get("Tags")
        saw(_tag(tags, SESSION_TAG), "control-plane rule", _tag(tags, EXPIRES_AT_TAG))
    for task in _bastion_tasks(ecs, require_ecs_cluster(settings)):
        if ecs_tag(task, STACK_TAG) == settings.stack_name:
            saw(ecs_tag(task, SESSION_TAG), "bastion task", ecs_tag(task, EXPIRES_AT_TAG))
    pages = ssm.get_paginator("get_parameters_by_path").paginate(
        Path=settings.session_parameter_prefix, Recursive=False
    )
    for page in pages:
        for parameter in page["Parameters"]:
            saw(parameter["Name"].rsplit("/", 1)[-1], HOLD_PARAMETER, _stored_expiry(parameter))
    return owners


def _bastion_tasks(ecs: Any, cluster: str) -> list[dict[str, Any]]:
    """The bastion tasks of the cluster that are not stopped (none if it does not exist)."""
    arns: list[str] = []
    try:
        for page in ecs.get_paginator("list_tasks").paginate(cluster=cluster, startedBy=STARTED_BY):
            arns.extend(page["taskArns"])
    except ClientError as error:
        if error_code(error) != "ClusterNotFoundException":
            raise
        return []
    tasks: list[dict[str, Any]] = []
    for start in range(0, len(arns), _DESCRIBE_BATCH):
        described = ecs.describe_tasks(
            cluster=cluster, tasks=arns[start : start + _DESCRIBE_BATCH], include=["TAGS"]
        )
        tasks.extend(task for task in described["tasks"] if task.get("lastStatus") != "STOPPED")
    return tasks


def _stored_expiry(parameter: Mapping[str, Any]) -> str | None:
    """The expiry HoldSession stored beside the token (the parameter's value is JSON)."""
    try:
        value = json.loads(parameter.get("Value") or "{}")
    except ValueError:
        return None
    expires_at = value.get("expiresAt") if isinstance(value, dict) else None
    return str(expires_at) if expires_at else None


def _execution_status(sfn: Any, settings: Settings, session_id: str) -> str | None:
    """The session execution's status; None when there is no such execution."""
    try:
        described = sfn.describe_execution(executionArn=settings.session_execution_arn(session_id))
    except ClientError as error:
        if error_code(error) == "ExecutionDoesNotExist":
            return None
        raise
    return str(described["status"])


def find_orphaned_sessions(
    request: FindOrphanedSessionsInput,
    *,
    settings: Settings,
    ec2: Any,
    ecs: Any,
    ssm: Any,
    sfn: Any,
    limit: int = MAX_SESSIONS_PER_SWEEP,
) -> OrphanedSessions:
    """The sessions to tear down: not running, or running past expiry plus the grace period.

    At most ``limit`` of them, drawn at random (seeded by the sweep's id) when there are
    more; the others are counted as deferred to a later sweep.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    owners = _session_owners(ec2, ecs, ssm, settings)
    grace = timedelta(minutes=settings.sweeper_grace_minutes)
    orphans: list[str] = []
    for session_id, owner in sorted(owners.items()):
        status = _execution_status(sfn, settings, session_id)
        overdue = owner.expires_at is not None and request.sweep_started_at > (
            owner.expires_at + grace
        )
        if status == "RUNNING" and not overdue:
            continue
        orphans.append(session_id)
        logger.info(
            "found an orphaned session",
            extra={
                "orphanedSessionId": session_id,
                "executionStatus": status or "does not exist",
                "overdue": overdue,
                "resources": sorted(owner.kinds),
            },
        )
    if len(orphans) <= limit:
        return OrphanedSessions(tuple(orphans), examined=len(owners))
    # Not a secret: a draw that differs from sweep to sweep and replays for one sweep.
    chosen = sorted(random.Random(request.sweep_id).sample(orphans, limit))  # noqa: S311
    logger.warning(
        "more orphaned sessions than one sweep takes: the others wait for a later sweep",
        extra={"orphans": len(orphans), "taken": limit, "deferred": len(orphans) - limit},
    )
    return OrphanedSessions(tuple(chosen), examined=len(owners), deferred=len(orphans) - limit)


@task_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """FindOrphanedSessions."""
    request = FindOrphanedSessionsInput.from_event(event)
    return find_orphaned_sessions(
        request,
        settings=load_settings(),
        ec2=client("ec2"),
        ecs=client("ecs"),
        ssm=client("ssm"),
        sfn=client("stepfunctions"),
    ).to_dict()

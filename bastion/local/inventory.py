"""What sessions left behind: every session-owned resource still there, read through boto3.

"Nothing was left behind" is the property every teardown test asserts; the rendered table
says what was, when it fails.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from bastion.local.ecs_lifecycle import quiet_describes
from tasks.common.tags import SESSION_TAG

#: Every stack keeps its hold parameters under /fargate-bastion/<stack>/sessions.
HOLD_PARAMETERS_ROOT = "/fargate-bastion"

ClientFactory = Callable[[str], Any]


@dataclass(frozen=True)
class OwnedResource:
    """One resource a session owns."""

    kind: str
    resource_id: str
    session_id: str


@dataclass(frozen=True)
class Inventory:
    """Session-owned resources still present, by kind."""

    security_groups: tuple[OwnedResource, ...]
    control_plane_rules: tuple[OwnedResource, ...]
    running_tasks: tuple[OwnedResource, ...]
    hold_parameters: tuple[OwnedResource, ...]

    @property
    def resources(self) -> tuple[OwnedResource, ...]:
        """Every resource of every kind."""
        return (
            *self.security_groups,
            *self.control_plane_rules,
            *self.running_tasks,
            *self.hold_parameters,
        )

    @property
    def is_empty(self) -> bool:
        """Whether no session owns anything any more."""
        return not self.resources

    @property
    def session_ids(self) -> frozenset[str]:
        """The sessions that still own something."""
        return frozenset(resource.session_id for resource in self.resources)

    def render(self) -> str:
        """A plain-text table of the resources and a closing summary line."""
        if self.is_empty:
            return "No session-owned resources."
        headers = ("KIND", "ID", "SESSION")
        rows = [(r.kind, r.resource_id, r.session_id) for r in self.resources]
        widths = [max(len(row[column]) for row in (headers, *rows)) for column in range(3)]
        lines = [
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            for row in (headers, *rows)
        ]
        counts = Counter(resource.kind for resource in self.resources)
        summary = ", ".join(
            f"{count} {kind}{'s' if count != 1 else ''}" for kind, count in counts.items()
        )
        total = len(self.resources)
        lines.append(f"{total} session-owned resource{'s' if total != 1 else ''}: {summary}.")
        return "\n".join(line.rstrip() for line in lines)


def _tag(tags: Iterable[dict[str, str]] | None, key: str, *, ecs: bool = False) -> str | None:
    key_name, value_name = ("key", "value") if ecs else ("Key", "Value")
    for tag in tags or []:
        if tag.get(key_name) == key:
            return tag.get(value_name, "")
    return None


def _wanted(session: str | None, session_id: str | None) -> bool:
    return session is not None and (session_id is None or session == session_id)


def _session_groups(ec2: Any) -> dict[str, str]:
    """Every session security group: id → session."""
    groups: dict[str, str] = {}
    pages = ec2.get_paginator("describe_security_groups").paginate(
        Filters=[{"Name": "tag-key", "Values": [SESSION_TAG]}]
    )
    for page in pages:
        for group in page["SecurityGroups"]:
            session = _tag(group.get("Tags"), SESSION_TAG)
            if session is not None:
                groups[group["GroupId"]] = session
    return groups


def _rules(ec2: Any, session_groups: dict[str, str], session_id: str | None) -> list[OwnedResource]:
    owned = []
    for page in ec2.get_paginator("describe_security_group_rules").paginate():
        for rule in page["SecurityGroupRules"]:
            referenced = (rule.get("ReferencedGroupInfo") or {}).get("GroupId")
            session = _tag(rule.get("Tags"), SESSION_TAG) or session_groups.get(referenced or "")
            if _wanted(session, session_id) and rule["GroupId"] not in session_groups:
                owned.append(
                    OwnedResource("control-plane rule", rule["SecurityGroupRuleId"], str(session))
                )
    return owned


def _tasks(ecs: Any, session_id: str | None) -> list[OwnedResource]:
    owned = []
    for page in ecs.get_paginator("list_clusters").paginate():
        for cluster in page["clusterArns"]:
            arns: list[str] = []
            for desired in ("RUNNING", "STOPPED"):
                listed = ecs.get_paginator("list_tasks").paginate(
                    cluster=cluster, desiredStatus=desired
                )
                arns.extend(arn for task_page in listed for arn in task_page["taskArns"])
            for start in range(0, len(arns), 100):
                with quiet_describes():
                    described = ecs.describe_tasks(
                        cluster=cluster, tasks=arns[start : start + 100], include=["TAGS"]
                    )
                for task in described["tasks"]:
                    session = _tag(task.get("tags"), SESSION_TAG, ecs=True)
                    if _wanted(session, session_id) and task.get("lastStatus") != "STOPPED":
                        owned.append(OwnedResource("bastion task", task["taskArn"], str(session)))
    return owned


def _parameters(ssm: Any, session_id: str | None) -> list[OwnedResource]:
    owned = []
    pages = ssm.get_paginator("get_parameters_by_path").paginate(
        Path=HOLD_PARAMETERS_ROOT, Recursive=True
    )
    for page in pages:
        for parameter in page["Parameters"]:
            # .../sessions/<session>, and beside it .../sessions/<session>/end (the end
            # request) and .../sessions/<session>/ready (the ready wait)
            parts = parameter["Name"].strip("/").split("/")
            is_beside = (
                len(parts) >= 3 and parts[-1] in ("end", "ready") and parts[-3] == "sessions"
            )
            session = parts[-2] if is_beside else parts[-1]
            if _wanted(session, session_id):
                owned.append(OwnedResource("hold parameter", parameter["Name"], session))
    return owned


def read_inventory(clients: ClientFactory, session_id: str | None = None) -> Inventory:
    """Read every resource owned by ``session_id`` (by any session if None)."""
    ec2 = clients("ec2")
    session_groups = _session_groups(ec2)
    return Inventory(
        security_groups=tuple(
            OwnedResource("security group", group_id, session)
            for group_id, session in session_groups.items()
            if _wanted(session, session_id)
        ),
        control_plane_rules=tuple(_rules(ec2, session_groups, session_id)),
        running_tasks=tuple(_tasks(clients("ecs"), session_id)),
        hold_parameters=tuple(_parameters(clients("ssm"), session_id)),
    )

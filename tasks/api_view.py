"""A session as the API shows it, worked out from its execution and history.

The session machine's states say how far a session got: the setup steps, BastionReady
(whose output holds the ready document at ``ready``: where to connect, until when), the
hold, and the teardown chain. ``phase`` is starting, ready, ending, ended or failed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tasks.common import session_states
from tasks.common.access_modes import PUBLIC

#: The error a DELETE during setup stops the execution with (ExecutionAborted's details).
ABORTED_BY_USER = "SessionEndedByUser"
END_REASON = "ended-by-user"
#: The session machine's states before the bastion is ready, and while it holds; any
#: other state (MarkSessionExpired, the teardown chain, the outcome) means it is ending.
STARTING_STATES = frozenset(session_states.STARTING_STATES)
READY_STATE = session_states.BASTION_READY
#: The state whose output names the bastion's task (``$.bastionTask.taskArn``).
TASK_STATE = session_states.RUN_BASTION_TASK
HOLDING_STATES = frozenset(session_states.HOLDING_STATES)


def execution_request(described: Mapping[str, Any]) -> dict[str, Any]:
    """The execution's input as an object ({} when it is not one: refused at validation)."""
    try:
        request = json.loads(described.get("input") or "{}")
    except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes
        return {}
    return request if isinstance(request, dict) else {}


@dataclass(frozen=True)
class Step:
    """A state the execution entered, and when it left it."""

    name: str
    entered_at: str
    exited_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "enteredAt": self.entered_at, "exitedAt": self.exited_at}


@dataclass(frozen=True)
class SessionView:
    """What GET /sessions/{id} answers."""

    session_id: str
    execution_arn: str
    status: str
    phase: str
    requested_by: str | None
    cluster: str | None
    started_at: str
    stopped_at: str | None
    steps: tuple[Step, ...] = ()
    address: str | None = None
    ssh_command: str | None = None
    expires_at: str | None = None
    #: The latest ``expires_at`` may be extended to (the stack's maximum lifetime).
    latest_expires_at: str | None = None
    #: The last extension the hold answered: who asked, by how much, and what came of it.
    last_extension: dict[str, Any] | None = None
    #: Where the control-plane rule landed: ``control-plane-only``, or
    #: ``cluster-security-group`` (which EKS also attaches to nodes and Fargate pods).
    control_plane_rule_scope: str | None = None
    end_reason: str | None = None
    error: dict[str, str] | None = None
    #: The bastion's ECS task, once RunBastionTask has started it.
    task_arn: str | None = None
    #: Where the bastion's log lines go (CloudWatch Logs), once its task exists.
    log_group: str | None = None
    log_stream: str | None = None
    #: While ready: the host keys sshd presents, as the bastion's started line reported them
    #: (``type``, ``key``, ``fingerprint``), for a client to pin.
    host_public_keys: tuple[dict[str, Any], ...] | None = None
    #: For a kubeconfig, while ready: the cluster's API endpoint and its CA (base64 PEM).
    cluster_endpoint: str | None = None
    cluster_certificate_authority: str | None = None
    #: public or private, once the request is validated.
    access_mode: str | None = None
    #: While a private session is ready: its Session Manager ``target``, ``documentName``
    #: and ``region`` (the ready document's ``sessionManager``).
    session_manager: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "sessionId": self.session_id,
            "executionArn": self.execution_arn,
            "status": self.status,
            "phase": self.phase,
            "requestedBy": self.requested_by,
            "cluster": self.cluster,
            "startedAt": self.started_at,
            "stoppedAt": self.stopped_at,
            "address": self.address,
            "sshCommand": self.ssh_command,
            "hostPublicKeys": list(self.host_public_keys) if self.host_public_keys else None,
            "expiresAt": self.expires_at,
            "latestExpiresAt": self.latest_expires_at,
            "lastExtension": self.last_extension,
            "controlPlaneRuleScope": self.control_plane_rule_scope,
            "endReason": self.end_reason,
            "error": self.error,
            "taskArn": self.task_arn,
            "logGroup": self.log_group,
            "logStream": self.log_stream,
            "clusterEndpoint": self.cluster_endpoint,
            "clusterCertificateAuthority": self.cluster_certificate_authority,
            "accessMode": self.access_mode,
            "sessionManager": self.session_manager,
            "steps": [step.to_dict() for step in self.steps],
        }


def history(sfn: Any, arn: str) -> list[dict[str, Any]]:
    """The execution's whole event history, oldest first."""
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
        events.extend(page["events"])
    return events


def steps_of(events: Iterable[Mapping[str, Any]]) -> tuple[Step, ...]:
    """The states entered, in order, each with when it was left (None while in it)."""
    steps: list[Step] = []
    for event in events:
        if "stateEnteredEventDetails" in event:
            name = str(event["stateEnteredEventDetails"].get("name", ""))
            steps.append(Step(name, iso(event["timestamp"])))
        elif "stateExitedEventDetails" in event:
            name = str(event["stateExitedEventDetails"].get("name", ""))
            for index in range(len(steps) - 1, -1, -1):
                if steps[index].name == name and steps[index].exited_at is None:
                    steps[index] = Step(name, steps[index].entered_at, iso(event["timestamp"]))
                    break
    return tuple(steps)


def ready_document(events: Iterable[Mapping[str, Any]]) -> dict[str, Any] | None:
    """BastionReady's latest ``$.ready``: sessionId, cluster, address, sshCommand,
    expiresAt, controlPlaneRuleScope, hostPublicKeys, accessMode and, for a private
    session, sessionManager (and the hold's seconds, which the view does not show).
    Each extension passes BastionReady again with the new expiry."""
    latest: dict[str, Any] | None = None
    for event in events:
        details = event.get("stateExitedEventDetails", {})
        if details.get("name") == READY_STATE:
            try:
                ready = json.loads(details.get("output") or "{}").get(session_states.READY)
            except (ValueError, AttributeError):
                return latest
            if not isinstance(ready, dict):
                return latest
            latest = ready
    return latest


def validated_session(events: Iterable[Mapping[str, Any]]) -> dict[str, Any] | None:
    """ValidateRequest's ``$.session``: the request as validated (None until it has been)."""
    for event in events:
        details = event.get("stateExitedEventDetails", {})
        if details.get("name") == session_states.VALIDATE_REQUEST:
            try:
                session = json.loads(details.get("output") or "{}").get(session_states.SESSION)
            except (ValueError, AttributeError):
                return None
            return session if isinstance(session, dict) else None
    return None


def task_arn(events: Iterable[Mapping[str, Any]]) -> str | None:
    """The bastion task RunBastionTask started (its output's ``bastionTask.taskArn``)."""
    for event in events:
        details = event.get("stateExitedEventDetails", {})
        if details.get("name") == TASK_STATE:
            try:
                output = json.loads(details.get("output") or "{}")
                arn = output[session_states.BASTION_TASK]["taskArn"]
            except (ValueError, KeyError, TypeError):
                return None
            return arn if isinstance(arn, str) else None
    return None


def phase_of(status: str, steps: Iterable[Step], ready: Mapping[str, Any] | None) -> str:
    """starting, ready, ending, ended (SUCCEEDED or stopped) or failed."""
    if status == "SUCCEEDED" or status == "ABORTED":
        return "ended"
    if status != "RUNNING":
        return "failed"
    names = {step.name for step in steps}
    if names - STARTING_STATES - HOLDING_STATES:
        return "ending"
    return "ready" if ready is not None else "starting"


def error_message(cause: str) -> str:
    """The readable part of a cause: a Lambda error's cause is JSON with errorMessage."""
    try:
        return str(json.loads(cause)["errorMessage"])
    except (ValueError, KeyError, TypeError):
        return cause


def _abort_details(events: Iterable[Mapping[str, Any]]) -> Mapping[str, Any]:
    for event in events:
        if "executionAbortedEventDetails" in event:
            details: Mapping[str, Any] = event["executionAbortedEventDetails"]
            return details
    return {}


def end_of(
    described: Mapping[str, Any], events: list[dict[str, Any]]
) -> tuple[str | None, dict[str, str] | None]:
    """Why the session ended, and the error if it failed: (endReason, error)."""
    status = described["status"]
    if status == "SUCCEEDED":
        try:
            end = json.loads(described.get("output") or "{}").get("end") or {}
        except (ValueError, AttributeError):
            end = {}
        return str(end.get("reason") or "ended"), None
    if status == "ABORTED":
        details = _abort_details(events)
        by_user = details.get("error") == ABORTED_BY_USER
        return (END_REASON if by_user else "aborted"), None
    if status in ("FAILED", "TIMED_OUT"):
        error = {
            "error": str(described.get("error") or status),
            "message": error_message(str(described.get("cause") or "")),
        }
        return ("failed" if status == "FAILED" else "timed-out"), error
    return None, None


def view_session(described: Mapping[str, Any], events: list[dict[str, Any]]) -> SessionView:
    """The session as GET /sessions/{id} shows it."""
    request = execution_request(described)
    steps = steps_of(events)
    ready = ready_document(events)
    status = str(described["status"])
    phase = phase_of(status, steps, ready)
    end_reason, error = end_of(described, events)
    connect = ready if phase == "ready" and ready is not None else {}
    requested_by = request.get("requestedBy")
    cluster = request.get("cluster")
    validated = validated_session(events)
    latest = (validated or {}).get("latestExpiresAt")
    extension = (ready or {}).get("extension")
    manager = connect.get("sessionManager")
    return SessionView(
        session_id=str(described["name"]),
        execution_arn=str(described["executionArn"]),
        status=status,
        phase=phase,
        requested_by=requested_by if isinstance(requested_by, str) else None,
        cluster=cluster if isinstance(cluster, str) else None,
        started_at=iso(described["startDate"]),
        stopped_at=iso(described["stopDate"]) if described.get("stopDate") else None,
        steps=steps,
        address=connect.get("address"),
        ssh_command=connect.get("sshCommand"),
        host_public_keys=_host_public_keys(connect.get("hostPublicKeys")),
        expires_at=(ready or {}).get("expiresAt"),
        latest_expires_at=latest if isinstance(latest, str) else None,
        last_extension=extension if isinstance(extension, dict) else None,
        control_plane_rule_scope=(ready or {}).get("controlPlaneRuleScope"),
        end_reason=end_reason,
        error=error,
        task_arn=task_arn(events),
        access_mode=access_mode_of(validated, ready),
        session_manager=manager if isinstance(manager, dict) else None,
    )


def access_mode_of(
    validated: Mapping[str, Any] | None, ready: Mapping[str, Any] | None
) -> str | None:
    """The session's access mode as validated (or as its ready document says); public for
    a session that got that far naming none; None before it is validated."""
    for source in (validated, ready):
        mode = (source or {}).get("accessMode")
        if isinstance(mode, str) and mode:
            return mode
    return PUBLIC if validated is not None or ready is not None else None


def _host_public_keys(value: Any) -> tuple[dict[str, Any], ...] | None:
    """The ready document's host keys as it holds them (a list of objects), else None:
    whoever pins them checks each one (tasks/common/host_keys.py)."""
    if not isinstance(value, list) or not all(isinstance(key, dict) for key in value):
        return None
    return tuple(value) or None


def iso(moment: Any) -> str:
    """A timestamp as ISO 8601 UTC with milliseconds."""
    if isinstance(moment, datetime):
        stamp = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return stamp.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return str(moment)

"""SSM StartSession on the local AWS: a Session Manager session on a private bastion's task.

moto has no StartSession. The local AWS answers it as AWS answers an ECS Exec target
(``ecs:<cluster>_<task id>_<runtime id>``): a SessionId, a TokenValue and a StreamUrl,
only when

- the cluster is a bastion cluster: one a deployed stack's functions name
  (``BASTION_ECS_CLUSTER``), and the document is that stack's session document
  (``BASTION_SESSION_DOCUMENT``), held by SSM as a Session document;
- the task is one of that cluster's, RUNNING, with ECS Exec enabled, and one of its
  containers has the target's runtime id and a RUNNING ``ExecuteCommandAgent``
  (what DescribeTasks shows as ``enableExecuteCommand``, ``runtimeId``, ``managedAgents``);
- the request passes no Parameters (the stack's document takes none).

Anything else is refused as AWS refuses it: ``InvalidDocument`` for the document (or
Parameters), ``TargetNotConnected`` for the target. No data channel stands behind the
StreamUrl: Session Manager's plugin, which speaks it, is in no registry this machine
reaches, so the CLI's tests run a stand-in plugin that relays to the bastion's loopback
sshd. TerminateSession ends a session StartSession opened (``Controls.ssm_sessions``
says which are connected) and, as AWS documents it, answers with the id it was given
whatever that session's state. While no local AWS runs, neither is implemented, as in
moto.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from moto.core.exceptions import ServiceException

from bastion.local.active import Controls, current
from bastion.local.ecs_lifecycle import ecs_backend, find_task
from bastion.local.patching import replace_attribute

TARGET = re.compile(
    r"ecs:(?P<cluster>[A-Za-z0-9_-]{1,255})_(?P<task>[0-9a-f-]{32,36})_(?P<runtime>.+)"
)
EXECUTE_COMMAND_AGENT = "ExecuteCommandAgent"
CONNECTED = "Connected"
TERMINATED = "Terminated"


class InvalidDocument(ServiceException):
    """StartSession's error for a document it will not run."""

    code = "InvalidDocument"


class TargetNotConnected(ServiceException):
    """StartSession's error for a target it cannot reach."""

    code = "TargetNotConnected"


def _functions(controls: Controls) -> list[Any]:
    """The local AWS's Lambda functions (of either of moto's Lambda backends)."""
    from moto.awslambda.models import lambda_backends
    from moto.awslambda_simple.models import lambda_simple_backends

    found: list[Any] = []
    for backends in (lambda_backends, lambda_simple_backends):
        found += list(backends[controls.account_id][controls.region].list_functions())
    return found


def stack_documents(controls: Controls) -> dict[str, set[str]]:
    """Each bastion cluster's name, and the session documents its stacks name."""
    documents: dict[str, set[str]] = {}
    for function in _functions(controls):
        variables = function.environment_vars or {}
        cluster = str(variables.get("BASTION_ECS_CLUSTER", "")).rsplit("/", 1)[-1]
        document = str(variables.get("BASTION_SESSION_DOCUMENT", ""))
        if cluster and document:
            documents.setdefault(cluster, set()).add(document)
    return documents


def _session_document_exists(controls: Controls, name: str) -> bool:
    from moto.ssm.models import ssm_backends

    versions = ssm_backends[controls.account_id][controls.region]._documents.get(name)
    return versions is not None and versions.get_default_version().document_type == "Session"


def _agent_running(container: Any) -> bool:
    return any(
        agent.get("name") == EXECUTE_COMMAND_AGENT and agent.get("lastStatus") == "RUNNING"
        for agent in getattr(container, "managed_agents", None) or []
    )


def check_request(controls: Controls, target: str, document_name: str, parameters: Any) -> None:
    """Refuse (InvalidDocument, TargetNotConnected) what StartSession does not answer."""
    match = TARGET.fullmatch(target or "")
    documents = stack_documents(controls).get(match["cluster"], set()) if match else set()
    if match is None or not documents:
        raise TargetNotConnected(f"{target} is not connected.")
    if document_name not in documents or not _session_document_exists(controls, document_name):
        raise InvalidDocument(
            f"document {document_name} is not the session document of cluster "
            f"{match['cluster']}'s stack"
        )
    if parameters:
        raise InvalidDocument(f"document {document_name} takes no parameters")
    task = find_task(ecs_backend(controls), match["task"], match["cluster"])
    ready = (
        task is not None
        and task.last_status == "RUNNING"
        and getattr(task, "enable_execute_command", False)
        and any(
            getattr(container, "runtime_id", None) == match["runtime"] and _agent_running(container)
            for container in task.containers
        )
    )
    if not ready:
        raise TargetNotConnected(f"{target} is not connected.")


def _start_session(original: Any) -> Any:
    from moto.core.responses import ActionResult

    def start_session(self: Any) -> Any:
        controls = current()
        if controls is None:
            raise NotImplementedError("The start_session action has not been implemented")
        check_request(
            controls,
            str(self._get_param("Target") or ""),
            str(self._get_param("DocumentName") or ""),
            self._get_param("Parameters"),
        )
        session_id = f"bastion-local-{secrets.token_hex(9)}"
        controls.ssm_sessions[session_id] = CONNECTED
        return ActionResult(
            {
                "SessionId": session_id,
                "TokenValue": secrets.token_urlsafe(48),
                "StreamUrl": (
                    f"wss://ssmmessages.{controls.region}.amazonaws.com/v1/data-channel/"
                    f"{session_id}?role=publish_subscribe"
                ),
            }
        )

    return start_session


def _terminate_session(original: Any) -> Any:
    from moto.core.responses import ActionResult

    def terminate_session(self: Any) -> Any:
        controls = current()
        if controls is None:
            raise NotImplementedError("The terminate_session action has not been implemented")
        session_id = str(self._get_param("SessionId") or "")
        if session_id in controls.ssm_sessions:
            controls.ssm_sessions[session_id] = TERMINATED
        return ActionResult({"SessionId": session_id})

    return terminate_session


def install() -> None:
    """Add StartSession and TerminateSession to moto's SSM."""
    from moto.ssm.responses import SimpleSystemManagerResponse

    replace_attribute(SimpleSystemManagerResponse, "start_session", _start_session)
    replace_attribute(SimpleSystemManagerResponse, "terminate_session", _terminate_session)

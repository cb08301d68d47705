"""WaitForBastionAddress: wait, signalled, until the bastion runs, has its address and has
said that sshd accepts connections; the answer is the ready document.

This is the ``.waitForTaskToken`` task of the ready wait (:mod:`tasks.common.ready_wait`):
it keeps its attempt's token in the session's ready parameter and looks once. The bastion's
started line, delivered to SignalBastionReady, makes the next look; the state's timeout
makes one more attempt when a delivery is lost. A look reads the task and its network
interface (the public IP is not in DescribeTasks) and the started line of the bastion's log
stream (``tasks/common/bastion_started.py``), which carries the host keys sshd presents; a
line that cannot be trusted is BastionStartedInvalid, which fails the session into its
teardown. The ready document says where to connect, with which host keys, until when, what
the control-plane rule reaches, and the seconds the session holds; the BastionReady state
checks every field of it before the hold and the API read them.

A private session's bastion has no address to connect to: it is ready once ECS Exec can
reach its container too (:mod:`tasks.common.session_manager`), and its ready document says
so (``address`` empty) and names the Session Manager target, the stack's session document
and the region, with an ssh command that opens the session as its ProxyCommand.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from tasks.common.access_modes import PRIVATE
from tasks.common.aws import client
from tasks.common.bastion_started import read_bastion_started
from tasks.common.bastion_tasks import require_ecs_cluster
from tasks.common.errors import BastionNotReady, BastionTaskStopped, StepInputInvalid
from tasks.common.host_keys import HostKey
from tasks.common.models import RULE_SCOPES, Session, parse_timestamp, require
from tasks.common.observability import error_code, logger, task_handler
from tasks.common.ready_wait import (
    Answer,
    ReadyWait,
    answer_ready_wait,
    ready_parameter_name,
    store_ready_wait,
)
from tasks.common.session_manager import (
    SessionManagerTarget,
    ecs_exec_target,
    reachable_runtime_id,
)
from tasks.common.settings import Settings, SettingsError, load_settings
from tasks.common.tags import as_key_value_list, session_tags

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@dataclass(frozen=True)
class WaitForBastionAddressInput:
    """The task's input."""

    session: Session
    wait: ReadyWait

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> WaitForBastionAddressInput:
        task = require(event, "bastionTask")
        scope = require(
            require(event, "controlPlane"), "controlPlaneRuleScope", within="controlPlane"
        )
        if scope not in RULE_SCOPES:
            raise StepInputInvalid(
                f"the step's input has no controlPlane.controlPlaneRuleScope of {RULE_SCOPES}"
            )
        session = Session.from_dict(require(event, "session"))
        wait = ReadyWait(
            task_token=str(require(event, "taskToken")),
            session_id=session.session_id,
            cluster=session.cluster,
            expires_at=session.expires_at,
            task_arn=str(require(task, "taskArn", within="bastionTask")),
            rule_scope=str(scope),
            access_mode=session.access_mode,
        )
        return cls(session=session, wait=wait)


@dataclass(frozen=True)
class ReadyBastion:
    """The task's output: the ready document, and how long the session holds."""

    session_id: str
    cluster: str
    #: The public IP when the task has one, else its private IP; none for a private
    #: session (its users come through Session Manager).
    address: str
    ssh_user: str
    expires_at: str
    #: What the control-plane rule reaches: the control plane only, or (on the cluster
    #: security group) its nodes and Fargate pods too.
    control_plane_rule_scope: str
    hold_seconds: int
    #: The host keys sshd presents, as the bastion's started line reported them.
    host_keys: tuple[HostKey, ...]
    access_mode: str
    #: A private session's way in (None for a public session).
    session_manager: SessionManagerTarget | None = None

    def to_dict(self) -> dict[str, Any]:
        ssh_command = (
            self.session_manager.ssh_command(self.ssh_user, self.session_id)
            if self.session_manager
            else f"ssh {self.ssh_user}@{self.address}"
        )
        document = {
            "sessionId": self.session_id,
            "cluster": self.cluster,
            "address": self.address,
            "sshUser": self.ssh_user,
            "sshCommand": ssh_command,
            "expiresAt": self.expires_at,
            "controlPlaneRuleScope": self.control_plane_rule_scope,
            "holdSeconds": self.hold_seconds,
            "hostPublicKeys": [key.as_event_entry() for key in self.host_keys],
            "accessMode": self.access_mode,
        }
        if self.session_manager:
            document["sessionManager"] = self.session_manager.to_dict()
        return document


def look_at_bastion(
    wait: ReadyWait,
    *,
    settings: Settings,
    ecs: Any,
    ec2: Any,
    logs: Any,
    now: datetime,
) -> ReadyBastion:
    """The ready document of the running bastion; BastionNotReady while it has no address
    (a private one: while ECS Exec cannot reach it) or has not logged its started line yet."""
    cluster = require_ecs_cluster(settings)
    if not settings.bastion_log_group:
        raise SettingsError("the stack did not configure BASTION_LOG_GROUP")
    private = wait.access_mode == PRIVATE
    if private and not settings.session_document:
        raise SettingsError("the stack did not configure BASTION_SESSION_DOCUMENT")
    described = ecs.describe_tasks(cluster=cluster, tasks=[wait.task_arn])
    if not described["tasks"]:
        raise BastionTaskStopped(f"bastion task {wait.task_arn} no longer exists")
    task = described["tasks"][0]
    if task.get("lastStatus") == "STOPPED" or task.get("desiredStatus") == "STOPPED":
        raise BastionTaskStopped(_stop_description(task))
    if task.get("lastStatus") != "RUNNING":
        raise BastionNotReady(f"bastion task is {task.get('lastStatus', 'not yet known')}")
    session_manager = None
    if private:
        address = ""
        runtime_id = reachable_runtime_id(task, settings.container_name)
        session_manager = SessionManagerTarget(
            target=ecs_exec_target(cluster, wait.task_arn, runtime_id),
            document_name=settings.session_document,
            region=str(ecs.meta.region_name),
        )
    else:
        address = _address(task, settings, ec2)
    started = read_bastion_started(
        logs,
        log_group=settings.bastion_log_group,
        container=settings.container_name,
        task_arn=wait.task_arn,
        session_id=wait.session_id,
    )
    if started is None:
        raise BastionNotReady("the bastion has not logged that sshd accepts connections yet")
    expires_at = parse_timestamp(wait.expires_at)
    return ReadyBastion(
        session_id=wait.session_id,
        cluster=wait.cluster,
        address=address,
        ssh_user=settings.ssh_user,
        expires_at=wait.expires_at,
        control_plane_rule_scope=wait.rule_scope,
        hold_seconds=max(1, math.ceil((expires_at - now).total_seconds())),
        host_keys=started.host_keys,
        access_mode=wait.access_mode,
        session_manager=session_manager,
    )


def _address(task: dict[str, Any], settings: Settings, ec2: Any) -> str:
    """A public bastion's address: its public IP, or its private IP where the stack assigns
    none; BastionNotReady while it has neither."""
    interface_id = _network_interface_id(task)
    if not interface_id:
        raise BastionNotReady("bastion task has no network interface yet")
    try:
        interfaces = ec2.describe_network_interfaces(NetworkInterfaceIds=[interface_id])
    except ClientError as error:
        if error_code(error) == "InvalidNetworkInterfaceID.NotFound":
            raise BastionNotReady(f"network interface {interface_id} is not visible yet") from None
        raise
    interface = interfaces["NetworkInterfaces"][0]
    public_ip = (interface.get("Association") or {}).get("PublicIp")
    if settings.assign_public_ip and not public_ip:
        raise BastionNotReady("bastion task has no public IP yet")
    return str(public_ip or interface["PrivateIpAddress"])


def _network_interface_id(task: dict[str, Any]) -> str | None:
    for attachment in task.get("attachments", []):
        if attachment.get("type") != "ElasticNetworkInterface":
            continue
        for detail in attachment.get("details", []):
            if detail.get("name") == "networkInterfaceId" and detail.get("value"):
                return str(detail["value"])
    return None


def _stop_description(task: dict[str, Any]) -> str:
    details = []
    if task.get("stopCode"):
        details.append(f"stopCode {task['stopCode']}")
    if task.get("stoppedReason"):
        details.append(str(task["stoppedReason"]))
    details.extend(
        f"container {container.get('name')}: {container['reason']}"
        for container in task.get("containers", [])
        if container.get("reason")
    )
    head = f"bastion task {task.get('taskArn')} stopped before it was ready"
    return f"{head}: {'; '.join(details)}" if details else head


def bastion_look(settings: Settings) -> Callable[[ReadyWait], dict[str, Any]]:
    """One look at the bastion of a ready wait, with this function's clients: its ready
    document, logged with the host keys' fingerprints."""

    def look(wait: ReadyWait) -> dict[str, Any]:
        ready = look_at_bastion(
            wait,
            settings=settings,
            ecs=client("ecs"),
            ec2=client("ec2"),
            logs=client("logs"),
            now=datetime.now(UTC),
        )
        fingerprints = [key.fingerprint for key in ready.host_keys]
        logger.info("bastion is ready", extra={"address": ready.address, "hostKeys": fingerprints})
        return ready.to_dict()

    return look


def wait_for_bastion_address(
    request: WaitForBastionAddressInput,
    *,
    settings: Settings,
    ssm: Any,
    sfn: Any,
    look: Callable[[ReadyWait], Mapping[str, Any]],
) -> Answer:
    """Keep this attempt's token where the signal finds it, then look once."""
    name = ready_parameter_name(settings.parameter_name(request.wait.session_id))
    tags = as_key_value_list(session_tags(request.session, settings.stack_name))
    store_ready_wait(ssm, name, request.wait, tags)
    return answer_ready_wait(sfn, ssm, name, request.wait, look)


@task_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """WaitForBastionAddress."""
    request = WaitForBastionAddressInput.from_event(event)
    settings = load_settings()
    return wait_for_bastion_address(
        request,
        settings=settings,
        ssm=client("ssm"),
        sfn=client("stepfunctions"),
        look=bastion_look(settings),
    ).to_dict()

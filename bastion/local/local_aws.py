"""The embedded local AWS: moto, patched to run the project's workflows in-process."""

from __future__ import annotations

import dataclasses
from contextlib import ExitStack
from datetime import datetime
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config

from bastion.local import active
from bastion.local.actions import ActionLog, RecordedAction
from bastion.local.active import Controls, activate
from bastion.local.awslogs import AwsLogsDriver
from bastion.local.cloudwatch_logs import put_lines
from bastion.local.ec2_control import Ec2Control
from bastion.local.ecs_control import EcsControl
from bastion.local.ecs_lifecycle import stop_task_by_itself
from bastion.local.eks_clusters import SeededCluster, add_unrelated_inbound_rules, seed_cluster
from bastion.local.environ import patched_environ
from bastion.local.eventbridge import EventBus, EventDelivery
from bastion.local.executions import (
    execution_history,
    running_executions,
    stop_running_executions,
    wait_for_execution,
)
from bastion.local.faults import Faults
from bastion.local.inventory import Inventory, read_inventory
from bastion.local.lambda_runtime import Invocation, invocations_paused
from bastion.local.log_subscriptions import LogDeliveries, LogDelivery
from bastion.local.patches import install_patches
from bastion.local.random_faults import RandomFaults
from bastion.local.snapshots import Snapshot, copy_backends, install_backends
from bastion.local.waits import WAIT_SECONDS
from tasks.common.aws import reset_clients

#: Environment variables that could point boto3 at a real account or endpoint.
_REMOVED_VARIABLES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_STEPFUNCTIONS",
    "AWS_ENDPOINT_URL_LAMBDA",
    "AWS_ENDPOINT_URL_EC2",
    "AWS_ENDPOINT_URL_ECS",
)

#: A test's own calls see an injected fault exactly once: no client-side retries.
_TEST_CLIENT_CONFIG = Config(retries={"total_max_attempts": 1})


@cache
def _service_model_loader() -> botocore.loaders.Loader:
    return botocore.loaders.create_loader()


def _fresh_session(region: str | None = None) -> boto3.Session:
    """A new session (credentials resolved anew, from the fake ones) that shares one loader
    of the service models: parsing their JSON again costs ~0.1 s per client and mock."""
    core = botocore.session.Session()
    core.register_component("data_loader", _service_model_loader())
    return boto3.Session(botocore_session=core, region_name=region)


def _check_time_scale(time_scale: float) -> None:
    if not time_scale > 0:
        raise ValueError(f"time_scale must be positive, got {time_scale}")


class LocalAws:
    """moto with Step Functions executing, Lambda handlers in-process, and AWS's gaps filled.

    Use it as a context manager; one may run at a time, any number one after another::

        with LocalAws(region="us-east-1", time_scale=60.0) as aws:
            cluster = aws.seed_cluster("demo")
            aws.client("stepfunctions").start_execution(...)

    ``time_scale`` divides every wait of the Step Functions interpreter (Retry intervals,
    Wait states, ``.waitForTaskToken`` timeouts and heartbeats): 60 turns a minute into a
    second, 1 is real time. ``iam_managed_policies`` loads AWS's managed IAM policies into
    moto (about a second more per start) for stacks that attach them.
    """

    def __init__(
        self,
        region: str = "us-east-1",
        time_scale: float = 60.0,
        *,
        iam_managed_policies: bool = False,
    ) -> None:
        _check_time_scale(time_scale)
        self.region = region
        self.iam_managed_policies = iam_managed_policies
        from moto.core import DEFAULT_ACCOUNT_ID

        self.account_id: str = DEFAULT_ACCOUNT_ID
        self._stack: ExitStack | None = None
        self._clients: dict[str, Any] = {}
        self._session: boto3.Session | None = None
        self._clusters_seeded = 0
        #: Arm Lambda-invocation and AWS-call failures.
        self.faults = Faults()
        #: Seeded random faults for campaigns (disarmed until armed).
        self.random_faults = RandomFaults()
        #: EC2 knobs (slow release of a stopped task's network interface).
        self.ec2_control = Ec2Control()
        #: ECS knobs (task lifecycle, start failures, capacity).
        self.ecs_control = EcsControl()
        #: Every Lambda invocation so far, oldest first.
        self.invocations: list[Invocation] = []
        #: EventBridge: AWS services' events, rules, delivery to targets, schedules.
        self.events = EventBus(self.region, self.account_id)
        #: The awslogs driver: ECS tasks' output into CloudWatch Logs as they run.
        self.awslogs = AwsLogsDriver()
        #: CloudWatch Logs subscription filters' deliveries to Lambda functions.
        self.log_deliveries = LogDeliveries()
        self._action_log = ActionLog()
        self._stacks: list[Any] = []
        self._controls = Controls(
            region=self.region,
            account_id=self.account_id,
            time_scale=float(time_scale),
            faults=self.faults,
            ecs=self.ecs_control,
            ec2=self.ec2_control,
            invocations=self.invocations,
            events=self.events,
            actions=self._action_log,
            random_faults=self.random_faults,
            awslogs=self.awslogs,
            log_deliveries=self.log_deliveries,
        )

    @property
    def time_scale(self) -> float:
        """How many times faster than real time the workflows' waits run."""
        return self._controls.time_scale

    @time_scale.setter
    def time_scale(self, value: float) -> None:
        """Change it, running or not: waits that begin from now on run at the new scale."""
        _check_time_scale(value)
        rescaled = dataclasses.replace(self._controls, time_scale=float(value))
        active.replace(self._controls, rescaled)
        self._controls = rescaled

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> LocalAws:
        """Start the mock, with fake credentials and the region in the environment."""
        if self._stack is not None:
            raise RuntimeError("this LocalAws is already running")
        from moto import mock_aws

        install_patches()
        stack = ExitStack()
        try:
            stack.enter_context(
                patched_environ(
                    {
                        "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing",  # noqa: S105 - moto's fake key
                        "AWS_DEFAULT_REGION": self.region,
                        "AWS_REGION": self.region,
                        "AWS_EC2_METADATA_DISABLED": "true",
                        # Fargate needs no AMIs; loading moto's ~1,300 costs ~0.3 s a region.
                        "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
                    },
                    remove=_REMOVED_VARIABLES,
                )
            )
            mock = mock_aws(
                config={
                    "stepfunctions": {"execute_state_machine": True},
                    "lambda": {"use_docker": False},
                    "iam": {"load_aws_managed_policies": self.iam_managed_policies},
                    "core": {"mock_credentials": True, "reset_boto3_session": True},
                }
            )
            mock.start()
            stack.callback(mock.stop)
            # moto replaced boto3's default session for the mock's lifetime (and puts the
            # old one back on stop): the handlers' and moto's own clients come from it.
            boto3.DEFAULT_SESSION = _fresh_session()
            activate(self._controls)

            # The workers make their own clients (boto3 clients are not shared between
            # threads here).
            def worker_client(service: str) -> Any:
                return _fresh_session(self.region).client(
                    service,  # type: ignore[call-overload]
                    config=_TEST_CLIENT_CONFIG,
                )

            from moto.events.models import events_backends

            self.events.open(worker_client, lambda: events_backends[self.account_id][self.region])
            stack.callback(self.events.close)
            self.log_deliveries.open(worker_client)
            stack.callback(self.log_deliveries.close)
            self.awslogs.open(put_lines(self.account_id, self.region))
            stack.callback(self.awslogs.close)
            stack.callback(self._controls.ecs.cancel_start_timers)
            stack.callback(lambda: active.deactivate(self._controls))
            reset_clients()
            stack.callback(reset_clients)
        except BaseException:
            stack.close()
            raise
        self._stack = stack
        return self

    def stop(self) -> None:
        """Stop every running execution, then the mock; restore the environment.

        An execution or invocation still running long after being stopped would act on
        whatever runs next in this process: the mock is stopped all the same, then
        RuntimeError or TimeoutError names it.
        """
        if self._stack is None:
            return
        try:
            # No event or log line may start anything new while the executions are stopped.
            self._controls.ecs.cancel_start_timers()
            self.awslogs.close()
            self.log_deliveries.close()
            self.events.close()
            stop_running_executions(self.client("stepfunctions"))
        finally:
            stack, self._stack = self._stack, None
            self._clients.clear()
            self._session = None
            # A handler still running in a workflow thread must not see the mock vanish.
            try:
                with invocations_paused():
                    stack.close()
            finally:
                stack.close()  # a no-op once closed

    def __enter__(self) -> LocalAws:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- using it -----------------------------------------------------------------------------

    def client(self, service: str) -> Any:
        """A boto3 client for ``service`` bound to the mock and the region (no retries)."""
        self._require_running()
        if service not in self._clients:
            if self._session is None:
                self._session = _fresh_session(self.region)
            self._clients[service] = self._session.client(
                service,  # type: ignore[call-overload]
                config=_TEST_CLIENT_CONFIG,
            )
        return self._clients[service]

    def stop_task_by_itself(
        self,
        task_arn: str,
        reason: str = "Essential container in task exited",
        exit_code: int = 0,
        *,
        at: datetime | None = None,
    ) -> None:
        """The ECS task's essential container exits by itself (idle timeout, expiry, crash),
        ``at`` a given moment (now by default), as
        :func:`bastion.local.ecs_lifecycle.stop_task_by_itself` says."""
        stop_task_by_itself(task_arn, reason, exit_code, at=at)

    def seed_cluster(
        self,
        name: str,
        endpoint_private: bool = True,
        endpoint_public: bool = False,
        *,
        beside: SeededCluster | None = None,
    ) -> SeededCluster:
        """Create a private EKS cluster with its VPC, subnets and cluster security group
        (in the VPC and subnets of the cluster ``beside``, if given)."""
        cluster = seed_cluster(
            self.client,
            name,
            endpoint_private=endpoint_private,
            endpoint_public=endpoint_public,
            cidr_octet=self._clusters_seeded % 256,
            beside=beside,
        )
        self._clusters_seeded += 1
        return cluster

    def deploy(
        self,
        template_path: str | Path,
        parameters: dict[str, str] | None = None,
        *,
        stack_name: str | None = None,
    ) -> Any:
        """Deploy ``template.yaml`` into the mock (see :mod:`bastion.local.deploy`), as
        the stack ``stack_name`` (the deployer's default name when None); several stacks
        may live side by side in the one account."""
        from bastion.local.deploy import deploy_stack  # type: ignore[import-not-found]

        named = {} if stack_name is None else {"stack_name": stack_name}
        deployed = deploy_stack(Path(template_path), parameters or {}, region=self.region, **named)
        self._stacks.append(deployed)
        return deployed

    def snapshot(self) -> Snapshot:
        """Everything this local AWS holds now (resources, deployed stacks, seeded
        clusters), for :meth:`restore`: before any execution started (moto keeps each
        execution's locks and threads, which cannot be copied)."""
        self._require_running()
        running = running_executions(self.client("stepfunctions"))
        if running:
            raise RuntimeError(f"cannot copy a local AWS while executions run: {running}")
        self.events.wait_until_idle()
        with invocations_paused():
            backends = copy_backends()
        return Snapshot(
            region=self.region,
            iam_managed_policies=self.iam_managed_policies,
            backends=backends,
            stacks=tuple(self._stacks),
            clusters_seeded=self._clusters_seeded,
        )

    def restore(self, snapshot: Snapshot) -> None:
        """Hold exactly what ``snapshot`` held (a copy of its own): only right after start,
        before anything was created; faults, records and events start empty as ever."""
        self._require_running()
        made = (snapshot.region, snapshot.iam_managed_policies)
        if made != (self.region, self.iam_managed_policies):
            raise ValueError(
                f"a snapshot of region {snapshot.region} with iam_managed_policies="
                f"{snapshot.iam_managed_policies} cannot be restored into region "
                f"{self.region} with iam_managed_policies={self.iam_managed_policies}"
            )
        install_backends(snapshot.backends)
        self._stacks = list(snapshot.stacks)
        self._clusters_seeded = snapshot.clusters_seeded

    def _require_running(self) -> None:
        if self._stack is None:
            raise RuntimeError("the LocalAws is not running: use it as a context manager")

    # --- EventBridge and the record of actions ---------------------------------------------

    @property
    def events_delivered(self) -> list[EventDelivery]:
        """Every EventBridge delivery attempt so far (rule, target, input, outcome)."""
        return list(self.events.delivered)

    def fire_schedule(self, rule: str, timeout: float = WAIT_SECONDS) -> list[EventDelivery]:
        """Fire a schedule rule now; ``rule`` is its name or the logical id of a deployed
        stack's ``AWS::Events::Rule`` (``SweeperStateMachineSweepSchedule``)."""
        for stack in self._stacks:
            if stack.resource_types.get(rule) == "AWS::Events::Rule":
                return self.events.fire_schedule(stack.resources[rule], timeout)
        return self.events.fire_schedule(rule, timeout)

    @property
    def log_deliveries_made(self) -> list[LogDelivery]:
        """Every CloudWatch Logs subscription delivery attempt so far (function, events,
        outcome)."""
        return list(self.log_deliveries.delivered)

    @property
    def actions(self) -> list[RecordedAction]:
        """Every AWS action a function, state machine or rule target performed so far."""
        return self._action_log.actions

    def inventory(self, session_id: str | None = None) -> Inventory:
        """Session-owned resources still there (of every session if ``session_id`` is None).

        Read while no handler runs: moto's stores are not safe to iterate while another
        thread writes them.
        """
        with invocations_paused():
            return read_inventory(self.client, session_id)

    def add_unrelated_inbound_rules(self, group_id: str, count: int) -> None:
        """Use up ``count`` of a group's inbound rule quota with rules of no session."""
        add_unrelated_inbound_rules(self.client("ec2"), group_id, count)

    def wait_for_execution(
        self, execution_arn: str, timeout: float = WAIT_SECONDS
    ) -> dict[str, Any]:
        """Wait until the execution ends; its ``describe_execution`` (TimeoutError if not)."""
        return wait_for_execution(self.client("stepfunctions"), execution_arn, timeout=timeout)

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        """The execution's full event history, oldest first."""
        return execution_history(self.client("stepfunctions"), execution_arn)

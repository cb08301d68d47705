"""Every patch the local AWS makes to moto (and botocore), and the gap each one fills.

:func:`bastion.local.patching.replace_attribute` refuses to replace anything not listed
here, and refuses when what it replaces no longer has the shape recorded here (the
parameters of a function or method, a property's getter, a module): moto's internals move
between releases, and a patch applied to something that changed would fail silently or
wrongly. ``make test`` checks that every entry is applied and every shape still holds
(``tests/local/test_patching.py``). Upstream: the moto issue or pull request about the
same gap, where one was found; moto's Step Functions interpreter is a copy of
LocalStack's, so some gaps are fixed there and not (yet) in moto.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The moto release every patch is written against (pyproject.toml pins the same).
PINNED_MOTO_VERSION = "5.2.5"


@dataclass(frozen=True)
class Patch:
    """One replaced attribute: where it lives, its shape, and why it is replaced."""

    #: The module of bastion.local that makes the patch.
    module: str
    #: ``package.module.Class`` or ``package.module`` that owns the attribute.
    owner: str
    attribute: str
    #: ``(param, ...)`` of a function, ``property(...)``, ``staticmethod(...)``, ``module``,
    #: or ``absent``: moto has no such attribute, the patch adds it.
    shape: str
    #: What moto does wrong or not at all, that the patch fixes.
    gap: str
    upstream: str = ""


_SFN = "moto.stepfunctions.parser"
_EXEC = f"{_SFN}.asl.component.state.exec"

PATCHES: tuple[Patch, ...] = (
    Patch(
        "stepfunctions_fixes",
        f"{_SFN}.asl.component.common.error_name.error_equals_decl.ErrorEqualsDecl",
        "_eval_body",
        "(self, env)",
        "States.ALL catches and retries States.Runtime and States.DataLimitExceeded; on AWS "
        "neither is caught by States.ALL, and States.Runtime by nothing: the execution fails",
    ),
    Patch(
        "stepfunctions_fixes",
        f"{_SFN}.backend.execution.Execution",
        "status",
        "property(self)",
        "an execution is listed from the moment it is created, but reading its status before "
        "its worker starts raises AttributeError: ListExecutions with a status filter fails "
        "while another execution is being started",
    ),
    Patch(
        "aws_calls",
        "moto.core.responses.BaseResponse",
        "call_action",
        "(self)",
        "no way to make an AWS call fail on purpose, and no record of who called what "
        "(fault injection, the action log behind the IAM checks)",
    ),
    Patch(
        "lambda_runtime",
        "moto.awslambda.models.LambdaFunction",
        "invoke",
        "(self, body, request_headers, response_headers)",
        "without Docker an invoke only echoes its payload: run the handler in-process, and "
        "answer a failure as Lambda does (errorType, Sandbox.Timedout, Runtime.ExitError...)",
    ),
    Patch(
        "lambda_runtime",
        "moto.awslambda_simple.models.LambdaSimpleBackend",
        "invoke",
        "(self, function_name, qualifier, body, headers, response_headers)",
        "the Docker-less backend short-circuits every invoke to an echo",
    ),
    Patch(
        "task_timeouts",
        f"{_EXEC}.execute_state",
        "threading",
        "module",
        "a Task state's TimeoutSeconds runs while its invocation waits its turn at the local "
        "Lambda (one at a time here, side by side on AWS): the wait for the state's work no "
        "longer counts that turn",
    ),
    Patch(
        "task_timeouts",
        f"{_EXEC}.execute_state",
        "Thread",
        "(group, target, name, args, kwargs, daemon)",
        "the thread a state's work runs on carries the clock of the wait above",
    ),
    Patch(
        "clock",
        f"{_SFN}.asl.component.common.retry.retrier_decl",
        "time",
        "module",
        "Retry intervals really sleep: divided by the local AWS's time scale",
    ),
    Patch(
        "clock",
        "botocore.endpoint",
        "time",
        "module",
        "the SDK's own retries really sleep: divided by the time scale",
    ),
    Patch(
        "clock",
        f"{_SFN}.asl.component.state.wait.wait_function.wait_function.WaitFunction",
        "_wait_interval",
        "(self, env, wait_seconds)",
        "Wait states really sleep: divided by the time scale",
    ),
    Patch(
        "clock",
        f"{_SFN}.asl.eval.callback.callback.CallbackEndpoint",
        "wait",
        "(self, timeout)",
        "a callback's TimeoutSeconds is real time: divided by the time scale",
    ),
    Patch(
        "clock",
        f"{_SFN}.asl.eval.callback.callback.HeartbeatEndpoint",
        "clear_and_wait",
        "(self)",
        "HeartbeatSeconds is real time: divided by the time scale",
    ),
    Patch(
        "stepfunctions_fixes",
        f"{_SFN}.asl.parse.preprocessor.Preprocessor",
        "__init__",
        "object.__init__",
        "the query-language scope stack is a class attribute shared by every parse: two "
        "executions starting at once pop each other's scope (IndexError, execution stuck)",
    ),
    Patch(
        "stepfunctions_fixes",
        f"{_SFN}.asl.parse.asl_parser.AmazonStateLanguageParser",
        "parse",
        "staticmethod(definition)",
        "every CreateStateMachine and StartExecution parses the definition anew with ANTLR "
        "(about 0.2 s of CPU for the session machine): each definition's tree is kept",
    ),
    Patch(
        "stepfunctions_fixes",
        f"{_SFN}.asl.eval.environment.Environment",
        "set_stop",
        "(self, stop_date, cause, error)",
        "StopExecution does not wake a waiting .waitForTaskToken task: it stays RUNNING",
    ),
    Patch(
        "stepfunctions_fixes",
        f"{_SFN}.backend.execution_worker.ExecutionWorker",
        "stop",
        "(self, stop_date, error, cause)",
        "stopping an execution whose worker has no environment yet crashes (None.set_stop)",
    ),
    Patch(
        "stepfunctions_fixes",
        f"{_SFN}.asl.eval.environment.Environment",
        "set_error",
        "(self, error)",
        "a later error overrides ABORTED after StopExecution",
    ),
    Patch(
        "stepfunctions_fixes",
        f"{_SFN}.asl.eval.environment.Environment",
        "set_timed_out",
        "(self)",
        "a later timeout overrides ABORTED after StopExecution",
    ),
    Patch(
        "stepfunctions_fixes",
        f"{_EXEC}.execute_state.ExecutionState",
        "_evaluate_with_timeout",
        "(self, env)",
        "a retried .waitForTaskToken task keeps its first token (AWS issues one per "
        "attempt); an interrupted state still records TaskFailed/Retry/Catch after an abort",
    ),
    Patch(
        "stepfunctions_fixes",
        f"{_SFN}.asl.component.common.timeouts.timeout.Timeout",
        "eval",
        "(self, env)",
        "once a frame ended, the timeout pops the state's input as its seconds and every "
        "later GetExecutionHistory fails",
    ),
    Patch(
        "stepfunctions_fixes",
        f"{_SFN}.asl.component.common.timeouts.heartbeat.Heartbeat",
        "eval",
        "(self, env)",
        "the same, for HeartbeatSeconds",
    ),
    Patch(
        "stepfunctions_fixes",
        "moto.stepfunctions.responses.StepFunctionResponse",
        "send_task_failure",
        "(self)",
        "SendTaskFailure drops its cause",
    ),
    Patch(
        "stepfunctions_fixes",
        f"{_EXEC}.state_task.state_task_lambda.StateTaskLambda",
        "_from_error",
        "(self, env, ex)",
        "a Lambda service error is named Exception, not Lambda.<code> as on AWS; so is a "
        "Parameters path that does not resolve, States.Runtime on AWS",
    ),
    Patch(
        "stepfunctions_fixes",
        f"{_SFN}.models.StepFunctionsParserBackend",
        "start_execution",
        "(self, state_machine_arn, name, execution_input, trace_header)",
        "an execution started without a name is named None (AWS generates a UUID)",
    ),
    Patch(
        "stepfunctions_fixes",
        f"{_SFN}.backend.execution.Execution",
        "start",
        "(self)",
        "no 'Step Functions Execution Status Change' event when an execution starts",
    ),
    Patch(
        "stepfunctions_fixes",
        f"{_EXEC}.state_task.service.state_task_service_callback.StateTaskServiceCallback",
        "_eval_integration_pattern",
        "(self, env, resource_runtime_part, normalised_parameters, state_credentials)",
        "a task token stays answerable after its task timed out or was answered",
    ),
    Patch(
        "stepfunctions_fixes",
        f"{_SFN}.models.StepFunctionsParserBackend",
        "send_task_success",
        "(self, task_token, outcome)",
        "answers a token whose task is over; crashes on an execution whose worker has not started",
    ),
    Patch(
        "stepfunctions_fixes",
        f"{_SFN}.models.StepFunctionsParserBackend",
        "send_task_failure",
        "(self, task_token, error, cause)",
        "the same, for failures",
    ),
    Patch(
        "stepfunctions_fixes",
        f"{_SFN}.models.StepFunctionsParserBackend",
        "send_task_heartbeat",
        "(self, task_token)",
        "the same, for heartbeats",
    ),
    Patch(
        "stepfunctions_fixes",
        f"{_SFN}.backend.execution.BaseExecutionWorkerCommunication",
        "terminated",
        "(self)",
        "no 'Step Functions Execution Status Change' event when an execution ends",
    ),
    Patch(
        "stepfunctions_fixes",
        f"{_EXEC}.state_task.lambda_eval_utils",
        "execute_lambda_function_integration",
        "(env, parameters, region, state_credentials)",
        "functions a machine invokes run as nobody: here as the machine's role (IAM checks)",
    ),
    Patch(
        "ec2_network",
        "moto.ec2.models.security_groups.SecurityGroupBackend",
        "delete_security_group",
        "(self, name, group_id)",
        "never DependencyViolation while an interface uses the group or a rule references it",
    ),
    Patch(
        "ec2_network",
        "moto.ec2.models.security_groups.SecurityGroupRule",
        "__eq__",
        "(self, other)",
        "rules compare their Description: revoke without it is NotFound, a second "
        "authorize with another one adds a pair instead of Duplicate",
    ),
    Patch(
        "ec2_network",
        "moto.ec2.models.security_groups.SecurityGroupRule",
        "description",
        "property(self)",
        "the same comparison, through the rule's description",
    ),
    Patch(
        "ec2_network",
        "moto.ec2.models.elastic_network_interfaces.NetworkInterfaceBackend",
        "create_network_interface",
        "(self, subnet, private_ip_address, private_ip_addresses, group_ids, description, "
        "tags, delete_on_termination, **kwargs)",
        "no public IP for a Fargate task's interface with assignPublicIp ENABLED",
    ),
    Patch(
        "ec2_tags",
        "moto.ec2.models.core.TaggedEC2Resource",
        "get_tags",
        "(self)",
        "reading a resource's tags scans every tag of the region (slow with many sessions)",
    ),
    Patch(
        "ecs_fargate",
        "moto.ecs.models.EC2ContainerServiceBackend",
        "_calculate_task_resource_requirements",
        "staticmethod(task_definition)",
        "RunTask crashes (TypeError) on a Fargate task sized at task level only",
        "getmoto/moto#7006 (related: Fargate run_task validation)",
    ),
    Patch(
        "ecs_fargate",
        "moto.ecs.models.Task",
        "__init__",
        "(self, cluster, task_definition, container_instance_arn, resource_requirements, "
        "backend, group, launch_type, overrides, started_by, tags, networking_configuration, "
        "platform_version, capacity_provider_name)",
        "awsvpc tasks crash without DNS hostnames or securityGroups; no lifecycle state",
    ),
    Patch(
        "ecs_fargate",
        "moto.ecs.models.Task",
        "status",
        "property(self)",
        "a task drifts from RUNNING to STOPPING on every describe: modelled lifecycle instead",
    ),
    Patch(
        "ecs_fargate",
        "moto.ecs.models.EC2ContainerServiceBackend",
        "describe_tasks",
        "(self, cluster_str, tasks)",
        "describe advances the lifecycle; stopped tasks vanish",
    ),
    Patch(
        "ecs_fargate",
        "moto.ecs.models.EC2ContainerServiceBackend",
        "stop_task",
        "(self, cluster_str, task_str, reason)",
        "StopTask leaves the interface behind, and emits no 'Task State Change' event",
    ),
    Patch(
        "ecs_fargate",
        "moto.ecs.responses.EC2ContainerServiceResponse",
        "list_tasks",
        "(self)",
        "ListTasks without desiredStatus lists stopped tasks too (AWS: RUNNING only)",
    ),
    Patch(
        "ecs_fargate",
        "moto.ecs.responses.EC2ContainerServiceResponse",
        "run_task",
        "(self)",
        "RunTask has no clientToken idempotency and no capacity 'failures', and ignores "
        "enableExecuteCommand (DescribeTasks shows no runtimeId or managedAgents either)",
    ),
    Patch(
        "eks_clusters",
        "moto.eks.models.EKSBackend",
        "create_cluster",
        "(self, name, role_arn, resources_vpc_config, version, kubernetes_network_config, "
        "logging, client_request_token, tags, encryption_config, remote_network_config)",
        "no clusterSecurityGroupId or vpcId, endpoint access flags missing",
    ),
    Patch(
        "eks_clusters",
        "moto.eks.models.EKSBackend",
        "update_cluster_config",
        "(self, name, resources_vpc_config, logging, client_request_token, "
        "kubernetes_network_config, remote_network_config)",
        "an update replaces the whole VPC config instead of merging it",
    ),
    Patch(
        "eks_clusters",
        "moto.eks.models.EKSBackend",
        "delete_cluster",
        "(self, name)",
        "the cluster security group outlives its cluster",
    ),
    Patch(
        "put_events",
        "moto.events.models.EventsBackend",
        "put_events",
        "(self, events)",
        "events to a state machine or Lambda target raise NotImplementedError; "
        "schedule-only and DISABLED rules still match",
    ),
    Patch(
        "cloudwatch_logs",
        "moto.logs.models.LogStream",
        "_send_log_events",
        "(self, service, destination_arn, filter_name, log_events)",
        "every event goes to every subscription filter whatever its pattern (JSON patterns "
        "match everything); a Lambda destination is invoked inside PutLogEvents, as nobody, "
        "with numeric event ids",
    ),
    Patch(
        "cloudwatch_logs",
        "moto.logs.models.LogGroup",
        "put_subscription_filter",
        "(self, filter_name, filter_pattern, destination_arn, role_arn)",
        "any filter pattern is accepted, including ones the local AWS cannot evaluate",
    ),
    Patch(
        "ssm_fixes",
        "moto.ssm.models.SimpleSystemManagerBackend",
        "get_parameter",
        "(self, name)",
        "a GetParameter during another thread's PutParameter of the same name hits an empty "
        "version list (IndexError); on AWS the parameter is simply not there yet",
    ),
    Patch(
        "ssm_sessions",
        "moto.ssm.responses.SimpleSystemManagerResponse",
        "start_session",
        "absent",
        "no StartSession: answered for a running bastion task's ECS Exec target with the "
        "stack's session document, refused for any other target or document",
    ),
    Patch(
        "ssm_sessions",
        "moto.ssm.responses.SimpleSystemManagerResponse",
        "terminate_session",
        "absent",
        "no TerminateSession: ends a session StartSession opened, answering with the id given",
    ),
)


def patch_for(owner: str, attribute: str) -> Patch | None:
    """The index entry of ``owner.attribute``, or None."""
    return next((p for p in PATCHES if (p.owner, p.attribute) == (owner, attribute)), None)

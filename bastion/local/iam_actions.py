"""From an AWS API call moto is answering to the IAM actions it needs, and their record.

The action (``ec2:CreateSecurityGroup``), the resource ARNs IAM authorizes it on where they
follow from the request, the actions AWS also authorizes implicitly (``ec2:CreateTags`` for
``TagSpecifications``, ``iam:PassRole`` for the roles of a task definition RunTask
starts...), and the tags of those resources, read from moto's stores
(:mod:`bastion.local.actions` holds the record).
"""

from __future__ import annotations

from typing import Any

from bastion.local.actions import ActionLog, RecordedAction, acting_principal
from bastion.local.stepfunctions_fixes import token_owner

#: boto3 service name → IAM action prefix, where they differ.
_IAM_PREFIX = {"stepfunctions": "states"}
#: API operation → IAM action, where they differ.
_IAM_ACTION = {("lambda", "Invoke"): "InvokeFunction"}


class _Arns:
    def __init__(self, region: str, account_id: str) -> None:
        self.region = region
        self.account_id = account_id

    def __call__(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account_id}:{resource}"


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def iam_actions(
    service: str, operation: str, param: Any, region: str, account_id: str
) -> list[tuple[str, tuple[str, ...]]]:
    """The IAM actions (with resources) a call of ``service``'s ``operation`` needs.

    ``param(name)`` reads a request parameter (None when absent); ``param("@has:Prefix")``
    says whether any parameter starts with ``Prefix`` (query-protocol lists).
    """
    arn = _Arns(region, account_id)
    prefix = _IAM_PREFIX.get(service, service)
    action = f"{prefix}:{_IAM_ACTION.get((service, operation), operation)}"
    extractor = _RESOURCES.get((service, operation))
    if extractor is None:
        resources: tuple[str, ...] = ("*",) if operation.startswith(_UNSCOPED) else ()
        return [(action, resources)]
    found = extractor(param, arn)
    return [(action, found[0]), *found[1:]]


#: Read-only operations AWS authorizes on "*" only.
_UNSCOPED = ("Describe", "List")

_Found = list[Any]


def _ec2_group(param: Any, arn: _Arns) -> _Found:
    group = param("GroupId")
    resources = [arn("ec2", f"security-group/{group}" if group else "security-group/*")]
    resources.append(arn("ec2", "security-group-rule/*"))
    found: _Found = [tuple(resources)]
    if param("@has:TagSpecification"):
        found.append(("ec2:CreateTags", (arn("ec2", "security-group-rule/*"),)))
    return found


def _ec2_create_group(param: Any, arn: _Arns) -> _Found:
    vpc = param("VpcId")
    found: _Found = [(arn("ec2", "security-group/*"), arn("ec2", f"vpc/{vpc}" if vpc else "vpc/*"))]
    if param("@has:TagSpecification"):
        found.append(("ec2:CreateTags", (arn("ec2", "security-group/*"),)))
    return found


def _ec2_delete_group(param: Any, arn: _Arns) -> _Found:
    group = param("GroupId")
    return [(arn("ec2", f"security-group/{group}" if group else "security-group/*"),)]


def _ecs_task_arns(param: Any, arn: _Arns) -> tuple[str, ...]:
    cluster = str(param("cluster") or "default").rsplit("/", 1)[-1]
    tasks = _as_list(param("tasks")) + _as_list(param("task"))
    return tuple(
        task if str(task).startswith("arn:") else arn("ecs", f"task/{cluster}/{task}")
        for task in tasks
    )


def _ecs_tasks(param: Any, arn: _Arns) -> _Found:
    return [_ecs_task_arns(param, arn)]


def _ecs_run_task(param: Any, arn: _Arns) -> _Found:
    definition = str(param("taskDefinition") or "")
    definition_arn = (
        definition if definition.startswith("arn:") else arn("ecs", f"task-definition/{definition}")
    )
    cluster = str(param("cluster") or "default").rsplit("/", 1)[-1]
    found: _Found = [(definition_arn,)]
    if param("tags"):
        found.append(("ecs:TagResource", (arn("ecs", f"task/{cluster}/*"),)))
    roles = _task_definition_roles(definition_arn)
    if roles:
        found.append(("iam:PassRole", roles))
    return found


def _task_definition_roles(definition_arn: str) -> tuple[str, ...]:
    """The task and execution roles RunTask passes to ECS (read from moto's ECS)."""
    from moto.ecs.models import ecs_backends

    parts = definition_arn.split(":")
    try:
        backend = ecs_backends[parts[4]][parts[3]]
        definition = backend.describe_task_definition(definition_arn.split("/", 1)[1])
    except Exception:  # RunTask itself reports an unknown definition
        return ()
    roles = (getattr(definition, "task_role_arn", None), definition.execution_role_arn)
    return tuple(str(role) for role in roles if role)


def _ssm_parameter(arn: _Arns, name: str) -> str:
    return arn("ssm", f"parameter/{str(name).lstrip('/')}")


def _ssm_named(param: Any, arn: _Arns) -> _Found:
    # ListTagsForResource names a parameter as its ResourceId.
    names = [*_as_list(param("Name")), *_as_list(param("Names")), *_as_list(param("ResourceId"))]
    return [tuple(_ssm_parameter(arn, name) for name in names)]


def _ssm_put(param: Any, arn: _Arns) -> _Found:
    resource = (_ssm_parameter(arn, param("Name")),)
    found: _Found = [resource]
    if param("Tags"):
        found.append(("ssm:AddTagsToResource", resource))
    return found


def _ssm_path(param: Any, arn: _Arns) -> _Found:
    return [(_ssm_parameter(arn, param("Path")),)]


def _states_machine(param: Any, arn: _Arns) -> _Found:
    return [(str(param("stateMachineArn")),)]


def _states_execution(param: Any, arn: _Arns) -> _Found:
    return [(str(param("executionArn")),)]


def _states_token(param: Any, arn: _Arns) -> _Found:
    machine = _machine_of_token(str(param("taskToken") or ""))
    return [(machine,) if machine else ()]


def _machine_of_token(token: str) -> str | None:
    """The state machine whose execution issued ``token`` (None if none did)."""
    owner = token_owner(token)
    return owner[0] if owner else None


def _eks_cluster(param: Any, arn: _Arns) -> _Found:
    return [(arn("eks", f"cluster/{param('name')}"),)]


def _lambda_function(param: Any, arn: _Arns) -> _Found:
    name = str(param("FunctionName") or "")
    return [(name if name.startswith("arn:") else arn("lambda", f"function:{name}"),)]


def _logs_stream(param: Any, arn: _Arns) -> _Found:
    group, stream = param("logGroupName"), param("logStreamName")
    return [(arn("logs", f"log-group:{group}:log-stream:{stream}"),)]


_RESOURCES: dict[tuple[str, str], Any] = {
    ("ec2", "CreateSecurityGroup"): _ec2_create_group,
    ("ec2", "DeleteSecurityGroup"): _ec2_delete_group,
    ("ec2", "AuthorizeSecurityGroupIngress"): _ec2_group,
    ("ec2", "AuthorizeSecurityGroupEgress"): _ec2_group,
    ("ec2", "RevokeSecurityGroupIngress"): _ec2_group,
    ("ec2", "RevokeSecurityGroupEgress"): _ec2_group,
    ("ecs", "RunTask"): _ecs_run_task,
    ("ecs", "DescribeTasks"): _ecs_tasks,
    ("ecs", "StopTask"): _ecs_tasks,
    ("ssm", "GetParameter"): _ssm_named,
    ("ssm", "GetParameters"): _ssm_named,
    ("ssm", "DeleteParameter"): _ssm_named,
    ("ssm", "DeleteParameters"): _ssm_named,
    ("ssm", "PutParameter"): _ssm_put,
    ("ssm", "GetParametersByPath"): _ssm_path,
    ("ssm", "ListTagsForResource"): _ssm_named,
    ("stepfunctions", "StartExecution"): _states_machine,
    ("stepfunctions", "ListExecutions"): _states_machine,
    ("stepfunctions", "DescribeExecution"): _states_execution,
    ("stepfunctions", "StopExecution"): _states_execution,
    ("stepfunctions", "GetExecutionHistory"): _states_execution,
    ("stepfunctions", "SendTaskSuccess"): _states_token,
    ("stepfunctions", "SendTaskFailure"): _states_token,
    ("stepfunctions", "SendTaskHeartbeat"): _states_token,
    ("eks", "DescribeCluster"): _eks_cluster,
    ("lambda", "Invoke"): _lambda_function,
    ("logs", "GetLogEvents"): _logs_stream,
}


def record_call(log: ActionLog, response: Any, region: str, account_id: str) -> None:
    """Record the IAM actions of the API call moto's ``response`` object is handling."""
    principal = acting_principal()
    if principal is None:
        return
    service = str(response.boto3_service_name)
    operation = str(response._get_action())

    def param(name: str) -> Any:
        if name.startswith("@has:"):
            wanted = name[len("@has:") :]
            return any(str(key).startswith(wanted) for key in response.querystring or {})
        try:
            return response._get_param(name)
        except Exception:  # a parameter moto cannot parse is unknown here
            return None

    for action, resources in iam_actions(service, operation, param, region, account_id):
        tags = resource_tags(resources, region, account_id)
        log.add(RecordedAction(principal, action, resources, f"{service}:{operation}", tags))


def resource_tags(
    resources: tuple[str, ...], region: str, account_id: str
) -> dict[str, dict[str, str]]:
    """The current tags of the security groups and ECS tasks named among ``resources``
    (read from moto's stores, inside the call being authorized); ``{}`` for one with no
    tags. Wildcard ARNs (``security-group/*``) name no resource and are left out."""
    found: dict[str, dict[str, str]] = {}
    for arn in resources:
        resource = arn.split(":", 5)[-1]
        if arn.startswith("arn:aws:ec2:") and resource.startswith("security-group/sg-"):
            from moto.ec2.models import ec2_backends

            group_id = resource.split("/", 1)[1]
            found[arn] = dict(ec2_backends[account_id][region].tags.get(group_id, {}))
        elif arn.startswith("arn:aws:ecs:") and resource.startswith("task/") and "*" not in arn:
            tags = _ecs_task_tags(arn, region, account_id)
            if tags is not None:
                found[arn] = tags
    return found


def _ecs_task_tags(arn: str, region: str, account_id: str) -> dict[str, str] | None:
    from moto.ecs.models import ecs_backends

    backend = ecs_backends[account_id][region]
    for tasks in list(backend.tasks.values()):
        task = tasks.get(arn)
        if task is not None:
            return {str(tag["key"]): str(tag["value"]) for tag in task.tags or []}
    return None

"""The embedded local AWS: moto with the project's Lambda handlers run in-process.

It is both the test harness and the zero-setup demo. Start with :class:`LocalAws`.

Modules: ``local_aws`` (the entry point), ``patches`` (installs the rest once per process),
``lambda_runtime`` (handlers in-process), ``faults`` (fault injection, the knob),
``aws_calls`` (every API call: its IAM actions, ``iam_actions``, then faults), ``clock`` (fast
workflow time), ``stepfunctions_fixes``, ``ecs_lifecycle`` and ``ecs_fargate`` (tasks;
``ecs_control`` their knob), ``eventbridge`` (the event bus; ``put_events`` its patch),
``ec2_network`` (security groups, interfaces; ``ec2_control`` its knob), ``eks_clusters``
(clusters, seeding), ``inventory`` (what sessions left behind), ``executions`` (polling,
history), ``deploy`` (``template.yaml`` into the mock), ``awslogs`` and ``cloudwatch_logs``
(tasks' output in CloudWatch Logs, subscription filters), ``log_subscriptions`` (their
deliveries to Lambda), ``simulated_bastion`` (a simulated task's started line).
"""

from bastion.local.eks_clusters import SeededCluster
from bastion.local.inventory import Inventory, OwnedResource
from bastion.local.lambda_runtime import SUCCEEDED, Invocation
from bastion.local.local_aws import LocalAws

__all__ = ["SUCCEEDED", "Inventory", "Invocation", "LocalAws", "OwnedResource", "SeededCluster"]

"""The shapes of the ECS identifiers that end up in commands and log stream names.

A task id is 32 hexadecimal digits (older tasks: a UUID). A Fargate container's runtime
id is the task id, a dash and a number (``<task id>-<digits>``), and it is one third of
the ECS Exec target a private session's ssh command names; nothing ECS reports goes into
that command without matching these.
"""

from __future__ import annotations

import re

#: An ECS task id, as a regular expression's text (to build longer shapes from).
TASK_ID = r"[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
#: A container's runtime id, as a regular expression's text.
RUNTIME_ID = r"[0-9a-f][0-9a-f-]{0,99}-[0-9]{1,20}"
#: An ECS cluster's name, as a regular expression's text.
CLUSTER_NAME = r"[A-Za-z0-9_-]{1,255}"

TASK_ID_SHAPE = re.compile(TASK_ID)
RUNTIME_ID_SHAPE = re.compile(RUNTIME_ID)
#: ``ecs:<cluster>_<task id>_<runtime id>``: Session Manager's name for a container.
ECS_EXEC_TARGET_SHAPE = re.compile(
    rf"ecs:(?P<cluster>{CLUSTER_NAME})_(?P<task>{TASK_ID})_(?P<runtime>{RUNTIME_ID})"
)

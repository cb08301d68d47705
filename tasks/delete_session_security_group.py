"""DeleteSessionSecurityGroup (teardown): delete the session's security group.

While the stopped task's network interface or a rule still uses the group, AWS refuses
(DependencyViolation): that is SessionSecurityGroupInUse, which the workflow retries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from tasks.common.aws import client
from tasks.common.errors import SessionSecurityGroupInUse
from tasks.common.models import require
from tasks.common.observability import error_code, logger, task_handler
from tasks.common.security_groups import GROUP_GONE, find_session_groups
from tasks.common.settings import load_settings
from tasks.common.validation import check_session_id

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@dataclass(frozen=True)
class DeleteSessionSecurityGroupInput:
    """The task's input."""

    session_id: str

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> DeleteSessionSecurityGroupInput:
        return cls(session_id=check_session_id(require(event, "sessionId")))


@dataclass(frozen=True)
class DeletedGroups:
    """The task's output."""

    deleted_group_ids: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"deletedGroupIds": list(self.deleted_group_ids)}


def delete_session_security_group(
    request: DeleteSessionSecurityGroupInput, *, stack_name: str, ec2: Any
) -> DeletedGroups:
    """Delete every group tagged with the session and the stack; SessionSecurityGroupInUse
    if one is used."""
    deleted, in_use = [], []
    for group in find_session_groups(ec2, request.session_id, stack_name):
        group_id = str(group["GroupId"])
        try:
            ec2.delete_security_group(GroupId=group_id)
        except ClientError as error:
            code = error_code(error)
            if code == "DependencyViolation":
                in_use.append(group_id)
                continue
            if code != GROUP_GONE:
                raise
            continue
        logger.info("deleted session security group", extra={"groupId": group_id})
        deleted.append(group_id)
    if in_use:
        raise SessionSecurityGroupInUse(
            f"security group {', '.join(in_use)} is still in use (the stopped task's network "
            "interface, or a rule referring to it, is not released yet)"
        )
    return DeletedGroups(tuple(deleted))


@task_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """DeleteSessionSecurityGroup."""
    request = DeleteSessionSecurityGroupInput.from_event(event)
    return delete_session_security_group(
        request, stack_name=load_settings().stack_name, ec2=client("ec2")
    ).to_dict()

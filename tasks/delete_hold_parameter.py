"""DeleteHoldParameter (teardown): remove the parameter that held the session's token."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tasks.common.aws import client
from tasks.common.models import require
from tasks.common.observability import logger, task_handler
from tasks.common.session_resources import hold_parameter_names
from tasks.common.settings import Settings, load_settings
from tasks.common.validation import check_session_id

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@dataclass(frozen=True)
class DeleteHoldParameterInput:
    """The task's input."""

    session_id: str

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> DeleteHoldParameterInput:
        return cls(session_id=check_session_id(require(event, "sessionId")))


@dataclass(frozen=True)
class DeletedParameters:
    """The task's output."""

    deleted_parameters: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"deletedParameters": list(self.deleted_parameters)}


def delete_hold_parameter(
    request: DeleteHoldParameterInput, *, settings: Settings, ssm: Any
) -> DeletedParameters:
    """Delete the session's hold parameter, its end request and its ready wait, in one
    call; success if there is none."""
    names = list(hold_parameter_names(settings, request.session_id))
    answer = ssm.delete_parameters(Names=names)
    deleted = [name for name in names if name in answer.get("DeletedParameters", [])]
    for parameter in deleted:
        logger.info("deleted the hold parameter", extra={"parameterName": parameter})
    return DeletedParameters(tuple(deleted))


@task_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """DeleteHoldParameter."""
    request = DeleteHoldParameterInput.from_event(event)
    return delete_hold_parameter(request, settings=load_settings(), ssm=client("ssm")).to_dict()

"""Tags: the one source of truth for what a session owns.

Every resource a session creates carries these tags, its stack's name among them.
Teardown and the sweeper find a session's resources by the session and stack tags
together (never by the session id alone: two stacks in one account may each have a
session of the same name), and the IAM policies scope mutating calls to the stack tag.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tasks.common.validation import check_session_id

if TYPE_CHECKING:
    from tasks.common.models import Session

TAG_PREFIX = "fargate-bastion"
SESSION_TAG = f"{TAG_PREFIX}:session"
#: The name of the stack whose session made the resource.
STACK_TAG = f"{TAG_PREFIX}:stack"
CLUSTER_TAG = f"{TAG_PREFIX}:cluster"
REQUESTED_BY_TAG = f"{TAG_PREFIX}:requested-by"
#: The requester's ``aws:userid``: the Session Manager grant matches it to the caller's.
REQUESTER_ID_TAG = f"{TAG_PREFIX}:requester-id"
EXPIRES_AT_TAG = f"{TAG_PREFIX}:expires-at"
#: Set by the operator (never by the stack) on one of a cluster's additional security
#: groups, to the cluster's name: "this group sits only on the control plane's network
#: interfaces; bastions may add their rule to it". The functions' IAM lets them change a
#: group that carries it only when its value is an allowed cluster.
CONTROL_PLANE_GROUP_TAG = f"{TAG_PREFIX}:control-plane"
#: EKS tags the cluster security group with the cluster's name.
EKS_CLUSTER_NAME_TAG = "aws:eks:cluster-name"


def session_tags(session: Session, stack_name: str) -> dict[str, str]:
    """The tags every resource of ``session`` (of the stack ``stack_name``) carries."""
    return {
        STACK_TAG: stack_name,
        SESSION_TAG: check_session_id(session.session_id),
        CLUSTER_TAG: session.cluster,
        REQUESTED_BY_TAG: session.requested_by,
        REQUESTER_ID_TAG: session.requester_id,
        EXPIRES_AT_TAG: session.expires_at,
    }


def as_key_value_list(tags: dict[str, str]) -> list[dict[str, str]]:
    """EC2 and SSM spell tags as ``[{"Key": ..., "Value": ...}]``."""
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def as_ecs_tags(tags: dict[str, str]) -> list[dict[str, str]]:
    """ECS spells tags as ``[{"key": ..., "value": ...}]``."""
    return [{"key": key, "value": value} for key, value in tags.items()]


def ec2_tag_specification(resource_type: str, tags: dict[str, str]) -> list[dict[str, object]]:
    """``TagSpecifications`` that tag an EC2 resource in the call that creates it."""
    return [{"ResourceType": resource_type, "Tags": as_key_value_list(tags)}]


def session_filter(session_id: str, stack_name: str) -> list[dict[str, object]]:
    """An EC2 ``Filters`` list matching the resources of one session of one stack.

    The id is checked first: EC2 filter values treat ``*`` and ``?`` as wildcards.
    """
    return [
        {"Name": f"tag:{SESSION_TAG}", "Values": [check_session_id(session_id)]},
        *stack_filter(stack_name),
    ]


def stack_filter(stack_name: str) -> list[dict[str, object]]:
    """An EC2 ``Filters`` list matching every session resource of one stack."""
    if not stack_name or "*" in stack_name or "?" in stack_name:
        raise ValueError(f"not a stack name: {stack_name!r}")
    return [
        {"Name": "tag-key", "Values": [SESSION_TAG]},
        {"Name": f"tag:{STACK_TAG}", "Values": [stack_name]},
    ]


def owned_by(tags: dict[str, str], session_id: str, stack_name: str) -> bool:
    """Whether a resource with ``tags`` belongs to that session of that stack."""
    return tags.get(SESSION_TAG) == session_id and tags.get(STACK_TAG) == stack_name

"""DeleteSessionSecurityGroup (teardown): delete the group once nothing uses it."""

from __future__ import annotations

import pytest

from tasks.authorize_control_plane_ingress import (
    AuthorizeControlPlaneIngressInput,
    authorize_control_plane_ingress,
)
from tasks.common.errors import SessionSecurityGroupInUse
from tasks.common.models import Session
from tasks.create_session_security_group import (
    CreateSessionSecurityGroupInput,
    create_session_security_group,
)
from tasks.delete_session_security_group import (
    DeletedGroups,
    DeleteSessionSecurityGroupInput,
    delete_session_security_group,
    handler,
)
from tasks.revoke_control_plane_ingress import (
    RevokeControlPlaneIngressInput,
    revoke_control_plane_ingress,
)
from tasks.run_bastion_task import RunBastionTaskInput, run_bastion_task
from tasks.stop_bastion_task import StopBastionTaskInput, stop_bastion_task
from tests.unit.support import (
    ENDPOINT_HOST,
    STACK,
    LambdaContextStub,
    Network,
    client,
    failing_client,
    load_event,
    local_stack,
    session_security_groups,
)

pytestmark = pytest.mark.unit


def create_group(session: Session, vpc_id: str) -> str:
    ec2 = client("ec2")
    # The group its HTTPS egress refers to: the control plane's, in the same VPC.
    control_plane = ec2.create_security_group(
        GroupName=f"control-plane-{session.session_id}", Description="control plane", VpcId=vpc_id
    )["GroupId"]
    request = CreateSessionSecurityGroupInput(
        session=session, vpc_id=vpc_id, control_plane_group_id=control_plane
    )
    return create_session_security_group(request, stack_name=STACK, ec2=ec2).group_id


def delete(ec2: object = None) -> DeletedGroups:
    request = DeleteSessionSecurityGroupInput(session_id="s-0001")
    return delete_session_security_group(request, stack_name=STACK, ec2=ec2 or client("ec2"))


def test_deletes_the_sessions_group(network: Network, session: Session) -> None:
    group_id = create_group(session, network.vpc_id)
    assert delete() == DeletedGroups((group_id,))
    assert session_security_groups("s-0001") == []


def test_a_rerun_or_no_group_is_success(network: Network, session: Session) -> None:
    assert delete() == DeletedGroups(())
    create_group(session, network.vpc_id)
    delete()
    assert delete() == DeletedGroups(())


def test_a_group_deleted_meanwhile_is_success(network: Network, session: Session) -> None:
    create_group(session, network.vpc_id)
    ec2 = failing_client("ec2", {"DeleteSecurityGroup": "InvalidGroup.NotFound"})
    assert delete(ec2) == DeletedGroups(())


def test_a_group_still_referenced_by_the_control_plane_is_in_use(
    local_aws, session: Session
) -> None:
    # GIVEN the session group, still let in by the control plane's rule
    stack = local_stack(local_aws)
    group_id = create_group(session, stack.vpc_id)
    authorize_control_plane_ingress(
        AuthorizeControlPlaneIngressInput(
            session=session,
            cluster_security_group_id=stack.cluster_security_group_id,
            session_security_group_id=group_id,
        ),
        stack_name=STACK,
        ec2=client("ec2"),
    )
    # WHEN it is deleted, THEN AWS refuses and the task says the group is in use
    with pytest.raises(SessionSecurityGroupInUse, match=group_id):
        delete()
    assert len(session_security_groups("s-0001")) == 1
    # AND once the rule is revoked, it goes
    revoke_control_plane_ingress(
        RevokeControlPlaneIngressInput("s-0001"), stack_name=STACK, ec2=client("ec2")
    )
    assert delete() == DeletedGroups((group_id,))


def test_in_use_until_the_stopped_tasks_interface_is_released(local_aws, session: Session) -> None:
    # GIVEN a bastion task in the session group, and AWS releasing a stopped task's
    # network interface only after two more refused deletions
    stack = local_stack(local_aws)
    local_aws.ec2_control.eni_release_dependency_violations = 2
    group_id = create_group(session, stack.vpc_id)
    run_bastion_task(
        RunBastionTaskInput(
            session=session, session_security_group_id=group_id, endpoint_host=ENDPOINT_HOST
        ),
        settings=stack.settings,
        ecs=client("ecs"),
    )
    # WHEN the task is stopped and the group deleted, as the workflow retries it
    stop_bastion_task(
        StopBastionTaskInput("s-0001", "expired"), settings=stack.settings, ecs=client("ecs")
    )
    for _ in range(2):
        with pytest.raises(SessionSecurityGroupInUse):
            delete()
    # THEN the group goes once the interface is released
    assert delete() == DeletedGroups((group_id,))
    assert session_security_groups("s-0001") == []


def test_the_handler_reads_the_event_file(
    network: Network, session: Session, context: LambdaContextStub
) -> None:
    group_id = create_group(session, network.vpc_id)
    output = handler(load_event("delete_session_security_group"), context)
    assert output == {"deletedGroupIds": [group_id]}

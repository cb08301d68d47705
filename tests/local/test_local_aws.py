"""LocalAws itself: start and stop, one at a time, environment, clients, deploy."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from bastion.local import LocalAws

pytestmark = pytest.mark.local


def test_local_aws_can_run_again_and_again_with_fresh_state() -> None:
    vpc_counts = []
    for _ in range(2):
        with LocalAws() as aws:
            ec2 = aws.client("ec2")
            vpc_counts.append(len(ec2.describe_vpcs()["Vpcs"]))
            ec2.create_vpc(CidrBlock="10.50.0.0/16")

    assert vpc_counts == [1, 1]  # only the default VPC each time


def test_the_environment_is_set_inside_and_restored_after(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "production")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.delenv("AWS_REGION", raising=False)

    with LocalAws(region="ap-southeast-2") as aws:
        inside = {
            name: os.environ.get(name)
            for name in ("AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_REGION")
        }
        client_region = aws.client("sqs").meta.region_name

    assert inside == {
        "AWS_PROFILE": None,
        "AWS_DEFAULT_REGION": "ap-southeast-2",
        "AWS_REGION": "ap-southeast-2",
    }
    assert client_region == "ap-southeast-2"
    assert os.environ["AWS_PROFILE"] == "production"
    assert os.environ["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert "AWS_REGION" not in os.environ


def test_only_one_local_aws_runs_at_a_time() -> None:
    with LocalAws(), pytest.raises(RuntimeError, match="already running"):
        LocalAws().start()


def test_clients_need_a_running_local_aws() -> None:
    with pytest.raises(RuntimeError, match="not running"):
        LocalAws().client("ec2")


def test_the_time_scale_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        LocalAws(time_scale=0)
    with pytest.raises(ValueError, match="positive"):
        LocalAws().time_scale = -1


def test_a_time_scale_changed_while_running_applies_to_the_waits_that_begin_after() -> None:
    from tests.local.conftest import create_state_machine, start

    wait = {"StartAt": "Hour", "States": {"Hour": {"Type": "Wait", "Seconds": 3600, "End": True}}}
    # GIVEN a local AWS in real time (an hour's Wait would last an hour)
    with LocalAws(time_scale=1.0) as aws:
        machine = create_state_machine(aws, "an-hour", wait)
        # WHEN it runs 36,000 times faster from now on
        aws.time_scale = 36_000.0
        arn = start(aws, machine, "fast", {})
        # THEN the hour passes in a tenth of a second
        assert aws.wait_for_execution(arn, timeout=60)["status"] == "SUCCEEDED"
        assert aws.time_scale == 36_000.0
    # AND the next local AWS starts cleanly (the rescaled one was the one to stop)
    with LocalAws():
        pass


def test_the_task_clients_are_forgotten_on_start_and_stop() -> None:
    from tasks.common.aws import client

    with LocalAws():
        inside = client("ec2")
    with LocalAws():
        again = client("ec2")

    assert inside is not again  # a client never outlives the mock it was made for


def test_deploy_delegates_to_deploy_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    import bastion.local.deploy as deploy_module

    calls: list[tuple[Any, ...]] = []

    def fake_deploy_stack(path: Path, parameters: dict[str, str], region: str) -> str:
        calls.append((path, parameters, region))
        return "deployed"

    monkeypatch.setattr(deploy_module, "deploy_stack", fake_deploy_stack)
    with LocalAws(region="eu-central-1") as aws:
        assert aws.deploy("template.yaml") == "deployed"
        assert aws.deploy("template.yaml", parameters={"A": "1"}) == "deployed"

    assert calls == [
        (Path("template.yaml"), {}, "eu-central-1"),
        (Path("template.yaml"), {"A": "1"}, "eu-central-1"),
    ]

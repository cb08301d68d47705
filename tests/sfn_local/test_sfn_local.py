"""The workflow scenarios on Step Functions Local, through testcontainers.

Step Functions Local runs the rendered ASL in AWS's own (now unsupported) local
interpreter, a second opinion beside moto's. Its Lambda calls go to a moto server in
this process, whose invocations run the real handlers against the local AWS. The tier
needs a Docker engine and is skipped, with the reason, where none is reachable.

Its image predates fields the rendered machines carry: :func:`sfn_local_definition` drops
each field of :data:`DROPPED_FIELDS` when loading a machine (the committed ASL is not
changed). The tier has never run on the machines this project is developed and tested on
(they have no Docker engine): only the loader is tested there. Whether the image also
lacks newer Retry fields (``MaxDelaySeconds``, ``JitterStrategy``) could not be checked
without it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.workflow.harness import Harness, deploy_for_tests
from workflows.machines import MACHINES
from workflows.render import render_text

pytestmark = pytest.mark.sfn_local

IMAGE = "amazon/aws-stepfunctions-local:2.0.0"
PORT = 8083


def _docker_unreachable() -> str | None:
    """Why no Docker engine can be used, or None when one answers."""
    try:
        import docker

        docker.from_env().ping()
    except Exception as error:  # noqa: BLE001 - any failure means: no engine here
        return f"no Docker engine reachable ({type(error).__name__}: {error})"
    return None


@pytest.fixture(scope="module")
def sfn_local() -> Iterator[tuple[Any, Harness]]:
    reason = _docker_unreachable()
    if reason:
        pytest.skip(
            f"Step Functions Local tier skipped: {reason}. This tier has never run on the "
            "machines this project is tested on (none has a Docker engine); only its loader "
            "is tested here"
        )
    import boto3
    from moto.server import ThreadedMotoServer
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    from bastion.local import LocalAws

    with LocalAws(region="us-east-1", time_scale=1.0) as aws:
        harness = deploy_for_tests(aws)
        server = ThreadedMotoServer(ip_address="0.0.0.0", port=0)  # noqa: S104 - the container must reach it
        server.start()
        moto_port = server.get_host_and_port()[1]
        container = (
            DockerContainer(IMAGE)
            .with_exposed_ports(PORT)
            .with_env("AWS_DEFAULT_REGION", "us-east-1")
            .with_env("LAMBDA_ENDPOINT", f"http://host.docker.internal:{moto_port}")
            .with_kwargs(extra_hosts={"host.docker.internal": "host-gateway"})
        )
        container.start()
        try:
            wait_for_logs(container, "Starting server on port", timeout=60)
            endpoint = (
                f"http://{container.get_container_host_ip()}:{container.get_exposed_port(PORT)}"
            )
            client = boto3.client("stepfunctions", endpoint_url=endpoint, region_name="us-east-1")
            yield client, harness
        finally:
            container.stop()
            server.stop()


#: Fields the Step Functions Local image cannot read, dropped when loading, and why that
#: changes nothing: (where, field, the only value that may be dropped).
DROPPED_FIELDS = (
    # The image predates QueryLanguage (2024); JSONPath is the default it always runs.
    ("machine", "QueryLanguage", "JSONPath"),
    ("state", "QueryLanguage", "JSONPath"),
)


def _states(definition: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for state in definition.get("States", {}).values():
        found.append(state)
        for nested in (state.get("ItemProcessor"), state.get("Iterator")):
            if isinstance(nested, dict):
                found += _states(nested)
        for branch in state.get("Branches", []):
            found += _states(branch)
    return found


def sfn_local_definition(text: str) -> str:
    """The machine ``text`` as Step Functions Local can load it: without the fields of
    :data:`DROPPED_FIELDS` (ValueError if one holds a value whose meaning would change)."""
    definition = json.loads(text)
    for where, field, droppable in DROPPED_FIELDS:
        holders = [definition] if where == "machine" else _states(definition)
        for holder in holders:
            if field not in holder:
                continue
            if holder[field] != droppable:
                raise ValueError(
                    f"Step Functions Local cannot run {field} {holder[field]!r}: only "
                    f"{droppable!r}, which it runs without the field"
                )
            del holder[field]
    return json.dumps(definition, indent=2)


def test_the_loader_drops_only_what_step_functions_local_cannot_read() -> None:
    for file_name in MACHINES:
        committed = json.loads(render_text(file_name))
        loaded = json.loads(sfn_local_definition(render_text(file_name)))

        assert committed.pop("QueryLanguage") == "JSONPath"
        assert "QueryLanguage" not in json.dumps(loaded)
        assert loaded == committed
    jsonata = json.dumps({"QueryLanguage": "JSONata", "StartAt": "A", "States": {}})
    with pytest.raises(ValueError, match="cannot run QueryLanguage 'JSONata'"):
        sfn_local_definition(jsonata)


def _create(client: Any, harness: Harness, file_name: str, machine_name: str) -> str:
    definition = sfn_local_definition(render_text(file_name))
    for logical_id in harness.stack.resources:
        if logical_id.endswith("Function"):
            name = harness.stack.function_name(logical_id)
            arn = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
            definition = definition.replace("${" + logical_id + "Arn}", arn)
    return client.create_state_machine(
        name=machine_name,
        definition=definition,
        roleArn="arn:aws:iam::123456789012:role/DummyRole",
    )["stateMachineArn"]


def _run(client: Any, machine_arn: str, name: str, payload: dict, timeout: float) -> dict:
    arn = client.start_execution(stateMachineArn=machine_arn, name=name, input=json.dumps(payload))[
        "executionArn"
    ]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        description = client.describe_execution(executionArn=arn)
        if description["status"] != "RUNNING":
            return description
        time.sleep(0.5)
    client.stop_execution(executionArn=arn)
    raise AssertionError(f"{name} did not finish in {timeout} s")


def test_invalid_request_fails_before_anything_exists(sfn_local: tuple[Any, Harness]) -> None:
    client, harness = sfn_local
    machine = _create(client, harness, "session.asl.json", "session-invalid")
    final = _run(client, machine, "bad-cidr", harness.request(allowedCidrs=["0.0.0.0/0"]), 120)
    assert final["status"] == "FAILED"
    assert harness.aws.inventory("bad-cidr").is_empty


def test_session_expires_and_leaves_nothing(sfn_local: tuple[Any, Harness]) -> None:
    client, harness = sfn_local
    machine = _create(client, harness, "session.asl.json", "session-expiry")
    final = _run(client, machine, "expiring", harness.request(durationMinutes=1), 300)
    assert final["status"] == "SUCCEEDED", final
    assert json.loads(final["output"])["end"] == {"reason": "expired"}
    assert harness.aws.inventory("expiring").is_empty


def test_teardown_machine_succeeds_with_nothing_to_remove(sfn_local: tuple[Any, Harness]) -> None:
    client, harness = sfn_local
    machine = _create(client, harness, "teardown.asl.json", "teardown")
    final = _run(client, machine, "teardown-none", {"sessionId": "never-existed"}, 120)
    assert final["status"] == "SUCCEEDED", final

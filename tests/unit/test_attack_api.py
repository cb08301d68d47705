"""Attacks on the session API's input: odd numbers and odd JSON are a 400 naming what was
wrong, never a 500, and start nothing."""

from __future__ import annotations

import os

import pytest

from tests.unit.support import EKS_CLUSTER
from tests.unit.test_api import api_env, call, event, executions, valid_body  # noqa: F401

#: api_env (the API function's environment, with the session machine) for every test.
pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("api_env")]


def started() -> list[object]:
    """The session machine's executions."""
    return list(executions(os.environ["SESSION_STATE_MACHINE_ARN"]))


@pytest.mark.parametrize("limit", ["\u00b2", "\u0661", "\uff15", "1_0", " 5", "+5", "05" * 300])
@pytest.mark.parametrize("path", ["/sessions", f"/clusters/{EKS_CLUSTER}/sessions"])
def test_a_list_limit_that_is_not_ascii_digits_is_400_naming_limit(path: str, limit: str) -> None:
    status, body = call(event("GET", path, query={"limit": limit}))
    assert (status, body["field"]) == (400, "limit"), body


@pytest.mark.parametrize(
    "raw_body",
    ["[" * 100_000, '{"a":' * 100_000, '{"cluster": "' + "\udcff" + '"}'],
    ids=["deep-list", "deep-object", "lone-surrogate"],
)
def test_odd_json_in_a_start_request_is_400_and_starts_nothing(raw_body: str) -> None:
    status, body = call(event("POST", f"/clusters/{EKS_CLUSTER}/sessions", raw_body=raw_body))
    assert status == 400, body
    assert body["field"] in ("body", "cluster"), body
    assert started() == []


def test_a_start_request_with_a_nan_duration_is_400_naming_it() -> None:
    raw = valid_body()
    text = f'{{"sshPublicKey": "{raw["sshPublicKey"]}", "durationMinutes": NaN}}'
    status, body = call(event("POST", f"/clusters/{EKS_CLUSTER}/sessions", raw_body=text))
    assert (status, body["field"]) in ((400, "durationMinutes"), (400, "body")), body
    assert started() == []

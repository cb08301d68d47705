"""A parameter another thread is creating reads as not there yet, as on AWS."""

from __future__ import annotations

import pytest

from bastion.local import LocalAws

pytestmark = pytest.mark.local


def test_a_parameter_half_created_by_another_thread_is_not_found_yet() -> None:
    from moto.ssm.models import ssm_backends

    with LocalAws(region="us-east-1") as aws:
        ssm = aws.client("ssm")
        # GIVEN the moment inside moto's put_parameter when the parameter's version list
        # exists but holds no version yet
        backend = ssm_backends[aws.account_id]["us-east-1"]
        assert backend._parameters["/fargate-bastion/sessions/half"] == []

        # THEN readers get "not found", not a crash
        with pytest.raises(ssm.exceptions.ParameterNotFound):
            ssm.get_parameter(Name="/fargate-bastion/sessions/half")
        found = ssm.get_parameters(Names=["/fargate-bastion/sessions/half"])
        assert found["Parameters"] == []

"""What one session costs, at published us-east-1 prices.

Sources: /work/shared/reference/AWS_FACTS.md section C (Step Functions Standard,
Fargate ARM64, public IPv4) and the AWS Lambda price list for arm64.
Free tiers are left out: they are per account, not per session.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Step Functions Standard: $0.025 per 1,000 state transitions (AWS_FACTS.md C).
SFN_PER_TRANSITION = 0.025 / 1000
#: Lambda arm64: $0.20 per 1M requests, $0.0000133334 per GB-second.
LAMBDA_PER_REQUEST = 0.20 / 1_000_000
LAMBDA_PER_GB_SECOND = 0.0000133334
#: Fargate Linux/ARM64, us-east-1 (AWS_FACTS.md C, via vantage.sh).
FARGATE_PER_VCPU_HOUR = 0.03238
FARGATE_PER_GB_HOUR = 0.00356
#: Public IPv4 address, since 2024-02-01 (AWS_FACTS.md C).
IPV4_PER_HOUR = 0.005

#: The bastion task's size (template.yaml: Cpu 256, Memory 512).
TASK_VCPU = 0.25
TASK_MEMORY_GB = 0.5
#: The functions' memory (template.yaml Globals: MemorySize 256).
LAMBDA_MEMORY_MB = 256


@dataclass(frozen=True)
class SessionUsage:
    """What one session consumes."""

    transitions: int
    invocations: int
    #: Billed duration assumed per invocation, milliseconds.
    billed_ms_per_invocation: float
    #: Hours the Fargate task is billed (image pull to stop).
    task_hours: float
    #: Hours the public IPv4 address is held (until the ENI is released).
    ipv4_hours: float
    lambda_memory_mb: int = LAMBDA_MEMORY_MB
    task_vcpu: float = TASK_VCPU
    task_memory_gb: float = TASK_MEMORY_GB


@dataclass(frozen=True)
class SessionCost:
    """One session's cost, in US dollars, by line item."""

    step_functions: float
    lambda_requests: float
    lambda_duration: float
    fargate_vcpu: float
    fargate_memory: float
    ipv4: float

    @property
    def lambda_total(self) -> float:
        return self.lambda_requests + self.lambda_duration

    @property
    def orchestration(self) -> float:
        """Step Functions and Lambda: what the design adds to the bastion itself."""
        return self.step_functions + self.lambda_total

    @property
    def fargate(self) -> float:
        return self.fargate_vcpu + self.fargate_memory

    @property
    def floor(self) -> float:
        """Fargate and public IPv4: what any Fargate bastion of that size costs."""
        return self.fargate + self.ipv4

    @property
    def total(self) -> float:
        return self.orchestration + self.floor

    @property
    def overhead_ratio(self) -> float:
        """Orchestration as a fraction of the floor."""
        return self.orchestration / self.floor


def session_cost(usage: SessionUsage) -> SessionCost:
    """Price ``usage``."""
    gb_seconds = (
        usage.invocations
        * (usage.billed_ms_per_invocation / 1000)
        * (usage.lambda_memory_mb / 1024)
    )
    return SessionCost(
        step_functions=usage.transitions * SFN_PER_TRANSITION,
        lambda_requests=usage.invocations * LAMBDA_PER_REQUEST,
        lambda_duration=gb_seconds * LAMBDA_PER_GB_SECOND,
        fargate_vcpu=usage.task_vcpu * usage.task_hours * FARGATE_PER_VCPU_HOUR,
        fargate_memory=usage.task_memory_gb * usage.task_hours * FARGATE_PER_GB_HOUR,
        ipv4=usage.ipv4_hours * IPV4_PER_HOUR,
    )


def dollars(amount: float) -> str:
    """A price with enough digits for fractions of a cent."""
    if amount == 0:
        return "$0"
    if amount >= 0.01:
        return f"${amount:.4f}"
    return f"${amount:.6f}"

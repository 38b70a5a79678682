"""Managed spot for a tuning job's training job definition, and what the tuning job may cost at worst.

`spot_definition` turns a definition into a managed-spot one: EnableManagedSpotTraining, a
MaxWaitTimeInSeconds of `wait_ratio` × MaxRuntimeInSeconds (spot jobs wait for capacity, and AWS requires
MaxWait ≥ MaxRuntime), and a per-run CheckpointConfig so an interrupted job resumes instead of starting over.
`worst_case_cost` multiplies the job budget out with a small, dated price table.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

# SageMaker training, on-demand USD per instance-hour, us-east-1, as listed on the AWS pricing page in
# November 2026. Estimates for a log line, not a bill: check the page for your region.
PRICES_AS_OF = "2026-11"
ON_DEMAND_USD_PER_HOUR = {
    "ml.m5.large": 0.115,
    "ml.m5.xlarge": 0.23,
    "ml.m5.2xlarge": 0.461,
    "ml.m5.4xlarge": 0.922,
    "ml.c5.xlarge": 0.204,
    "ml.c5.2xlarge": 0.408,
    "ml.g4dn.xlarge": 0.736,
}
# AWS quotes "up to 90 %" for managed spot; 70 % is a typical saving for these CPU instances.
TYPICAL_SPOT_SAVING = 0.70
DEFAULT_MAX_RUNTIME = 86400


class SpotConfigError(ValueError):
    """The definition and the spot settings contradict each other; the message names the field."""


def spot_definition(
    definition: dict[str, Any], *, use_spot: bool, checkpoint_uri: str | None, wait_ratio: float = 2.0
) -> dict[str, Any]:
    """A copy of a HyperParameterTrainingJobDefinition, on managed spot if use_spot; unchanged otherwise."""
    if not use_spot:
        return copy.deepcopy(definition)
    if wait_ratio < 1:
        raise SpotConfigError(
            f"wait_ratio must be >= 1 (MaxWaitTimeInSeconds >= MaxRuntimeInSeconds), got {wait_ratio}"
        )
    if not checkpoint_uri or not checkpoint_uri.startswith("s3://"):
        raise SpotConfigError(
            f"CheckpointConfig.S3Uri must be an s3:// URI so interrupted jobs can resume, got {checkpoint_uri!r}"
        )
    out = copy.deepcopy(definition)
    stopping = dict(out.get("StoppingCondition") or {})
    max_runtime = stopping.get("MaxRuntimeInSeconds", DEFAULT_MAX_RUNTIME)
    given_wait = stopping.get("MaxWaitTimeInSeconds")
    if given_wait is not None and given_wait < max_runtime:
        raise SpotConfigError(
            f"StoppingCondition.MaxWaitTimeInSeconds ({given_wait}) is below MaxRuntimeInSeconds ({max_runtime})"
        )
    stopping["MaxRuntimeInSeconds"] = max_runtime
    stopping["MaxWaitTimeInSeconds"] = given_wait or int(max_runtime * wait_ratio)
    out["StoppingCondition"] = stopping
    out["EnableManagedSpotTraining"] = True
    out["CheckpointConfig"] = {**(out.get("CheckpointConfig") or {}), "S3Uri": checkpoint_uri}
    return out


@dataclass(frozen=True)
class CostEstimate:
    instance_type: str
    instance_hours: float
    on_demand_usd: float | None
    spot_usd: float | None

    def describe(self) -> str:
        if self.on_demand_usd is None:
            return (
                f"worst case {self.instance_hours:.1f} instance-hours of {self.instance_type} "
                f"(no price for it in the {PRICES_AS_OF} table)"
            )
        return (
            f"worst case {self.instance_hours:.1f} instance-hours of {self.instance_type}: "
            f"${self.on_demand_usd:,.2f} on-demand, about ${self.spot_usd:,.2f} on spot "
            f"(prices of {PRICES_AS_OF}, spot at a typical {TYPICAL_SPOT_SAVING:.0%} saving)"
        )


def worst_case_cost(definition: dict[str, Any], max_jobs: int) -> CostEstimate:
    """Every job runs to MaxRuntimeInSeconds on every instance: the most the tuning job can bill."""
    resources = definition.get("ResourceConfig") or definition.get("HyperParameterTuningResourceConfig") or {}
    instance_type = resources.get("InstanceType", "ml.m5.large")
    count = resources.get("InstanceCount", 1)
    runtime = (definition.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds", DEFAULT_MAX_RUNTIME)
    hours = max_jobs * count * runtime / 3600
    price = ON_DEMAND_USD_PER_HOUR.get(instance_type)
    if price is None:
        return CostEstimate(instance_type, hours, None, None)
    return CostEstimate(instance_type, hours, hours * price, hours * price * (1 - TYPICAL_SPOT_SAVING))


def spot_settings_problems(definition: dict[str, Any], training_job: dict[str, Any]) -> list[str]:
    """What a tuning job's child training job (DescribeTrainingJob) lost of the definition's spot settings."""
    problems = []
    wanted = bool(definition.get("EnableManagedSpotTraining"))
    if bool(training_job.get("EnableManagedSpotTraining")) != wanted:
        problems.append(f"EnableManagedSpotTraining is {training_job.get('EnableManagedSpotTraining')}, not {wanted}")
    checkpoint = (definition.get("CheckpointConfig") or {}).get("S3Uri")
    if checkpoint:
        got = (training_job.get("CheckpointConfig") or {}).get("S3Uri") or ""
        # SageMaker may give each training job its own prefix under the definition's URI (a "folder", so
        # run-10 is not under run-1).
        base = checkpoint.rstrip("/")
        if got.rstrip("/") != base and not got.startswith(base + "/"):
            problems.append(f"CheckpointConfig.S3Uri is {got or 'missing'}, not under {checkpoint}")
    wait = (definition.get("StoppingCondition") or {}).get("MaxWaitTimeInSeconds")
    got_wait = (training_job.get("StoppingCondition") or {}).get("MaxWaitTimeInSeconds")
    if wanted and wait and got_wait != wait:
        problems.append(f"StoppingCondition.MaxWaitTimeInSeconds is {got_wait}, not {wait}")
    return problems

"""Hyperparameter tuning jobs: the resource, its trials, counters and best job, describe/summary.

A trial is one training job the tuning job launched: its definition, the hyperparameters the strategy
chose, the objective curve seen so far and the final objective. Trials are persisted with the job, so the
scheduler can rebuild its strategy after a restart without repeating finished training jobs.
"""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from ..algorithms import BUILTIN_XGBOOST_METRIC_DEFINITIONS
from .base import TERMINAL_STATUSES, SpecResource, arn, now
from .training import TrainingJob

OBJECTIVE_METRIC_KEY = "_tuning_objective_metric"
OBJECTIVE_METRIC = "ObjectiveMetric"


class TrialState(StrEnum):
    RUNNING = "running"  # its training job was asked for (it may not exist yet after a restart)
    FINISHED = "finished"  # its objective, or the lack of one, was told to the strategy


@dataclass
class Trial:
    """One training job a tuning job launched, as the tuning job tracks it (and persists it)."""

    trial: int  # the strategy's number for it
    job: str
    hyperparameters: dict[str, str]
    definition: str | None = None
    state: TrialState = TrialState.RUNNING
    curve: list[float] = field(default_factory=list)  # the objective metric as the job emitted it
    objective: float | None = None  # the final objective; None when the job failed or emitted none
    error: str | None = None  # why its training job could not be created
    early_stopped: bool = False

    @property
    def finished(self) -> bool:
        return self.state is TrialState.FINISHED

    @property
    def evaluated(self) -> bool:
        return self.finished and self.objective is not None

    @property
    def value(self) -> float:
        """The final objective of an evaluated trial."""
        if self.objective is None:
            raise ValueError(f"training job {self.job} has no final objective")
        return self.objective

    def record(self) -> dict[str, Any]:
        return {**asdict(self), "state": self.state.value}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Trial:
        return cls(**{**record, "state": TrialState(record["state"])})


@dataclass(frozen=True)
class Completion:
    """How a tuning job ends: its status and, for Failed, the FailureReason; otherwise why it completed."""

    status: str  # one of TERMINAL_STATUSES
    reason: str | None = None


def training_job_name(tuning_job: str, index: int) -> str:
    """AWS's form, <tuning job>-<3-digit index>-<8 hex>; stable, so a restarted scheduler finds its jobs."""
    digest = zlib.crc32(f"{tuning_job}/{index}".encode()) & 0xFFFFFFFF
    return f"{tuning_job}-{index:03d}-{digest:08x}"


def definitions_of(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(field path, definition) pairs, for either form of the request."""
    if spec.get("TrainingJobDefinition"):
        return [("TrainingJobDefinition", spec["TrainingJobDefinition"])]
    return [(f"TrainingJobDefinitions.{i}", d) for i, d in enumerate(spec.get("TrainingJobDefinitions") or [], 1)]


def objective_of(spec: dict[str, Any], definition: dict[str, Any]) -> dict[str, Any] | None:
    return definition.get("TuningObjective") or spec["HyperParameterTuningJobConfig"].get(
        "HyperParameterTuningJobObjective"
    )


def ranges_of(spec: dict[str, Any], definition: dict[str, Any]) -> dict[str, Any]:
    return definition.get("HyperParameterRanges") or spec["HyperParameterTuningJobConfig"].get("ParameterRanges") or {}


class TuningJob(SpecResource):
    kind = "tuning-job"

    def __init__(self, region: str, spec: dict[str, Any]) -> None:
        self.region = region
        self.spec = spec
        self.name: str = spec["HyperParameterTuningJobName"]
        self.arn = arn(region, "hyper-parameter-tuning-job", self.name)
        self.created = now()
        self.modified = self.created
        self.ended: datetime | None = None
        self.status = "InProgress"
        self.failure_reason: str | None = None
        self.stop_requested = False
        self.trials: list[Trial] = []
        self.not_improving = 0
        self.converged_at: datetime | None = None
        self.runtime_seconds = 0
        # Parents' evaluated jobs, frozen at creation: (summary, objective) for OverallBestTrainingJob.
        self.parent_best: dict[str, Any] | None = None

    # --- configuration -------------------------------------------------------------------------
    @property
    def config(self) -> dict[str, Any]:
        return self.spec["HyperParameterTuningJobConfig"]

    @property
    def strategy(self) -> str:
        return self.config["Strategy"]

    @property
    def definitions(self) -> list[dict[str, Any]]:
        return [d for _, d in definitions_of(self.spec)]

    def objective(self, definition: dict[str, Any] | None = None) -> dict[str, Any]:
        objective = objective_of(self.spec, definition or self.definitions[0])
        assert objective is not None  # CreateHyperParameterTuningJob refuses a definition without one
        return objective

    def ranges(self, definition: dict[str, Any] | None = None) -> dict[str, Any]:
        return ranges_of(self.spec, definition or self.definitions[0])

    @property
    def maximize(self) -> bool:
        return self.objective()["Type"] == "Maximize"

    @property
    def max_jobs(self) -> int | None:
        return self.config["ResourceLimits"].get("MaxNumberOfTrainingJobs")

    @property
    def max_parallel(self) -> int:
        return self.config["ResourceLimits"]["MaxParallelTrainingJobs"]

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    def better(self, a: float, b: float) -> bool:
        return a > b if self.maximize else a < b

    def definition(self, name: str | None) -> dict[str, Any]:
        return next((d for d in self.definitions if d.get("DefinitionName") == name), self.definitions[0])

    def training_request(self, trial: Trial) -> dict[str, Any]:
        """The CreateTrainingJob request for a trial, as AMT builds it from the definition."""
        definition = self.definition(trial.definition)
        hyperparameters = {
            **(definition.get("StaticHyperParameters") or {}),
            **trial.hyperparameters,
            OBJECTIVE_METRIC_KEY: self.objective(definition)["MetricName"],
        }
        request: dict[str, Any] = {
            key: definition[key]
            for key in (
                "RoleArn",
                "InputDataConfig",
                "OutputDataConfig",
                "VpcConfig",
                "StoppingCondition",
                "EnableNetworkIsolation",
                "EnableInterContainerTrafficEncryption",
                "EnableManagedSpotTraining",
                "RetryStrategy",
                "Environment",
            )
            if key in definition
        }
        algo = dict(definition["AlgorithmSpecification"])
        objective = self.objective(definition)["MetricName"]
        known = [*(algo.get("MetricDefinitions") or []), *BUILTIN_XGBOOST_METRIC_DEFINITIONS]
        regex = next((d["Regex"] for d in known if d["Name"] == objective), None)
        if regex is not None:
            # AMT adds the objective under the name ObjectiveMetric; it shows in the job's FinalMetricDataList.
            algo["MetricDefinitions"] = [
                *(algo.get("MetricDefinitions") or []),
                {"Name": OBJECTIVE_METRIC, "Regex": regex},
            ]
        request.update(
            TrainingJobName=trial.job,
            AlgorithmSpecification=algo,
            HyperParameters=hyperparameters,
            ResourceConfig=definition.get("ResourceConfig") or _single_instance(definition),
        )
        if definition.get("CheckpointConfig"):
            # Each training job gets its own checkpoint prefix, so parallel jobs never resume each other.
            checkpoint = dict(definition["CheckpointConfig"])
            checkpoint["S3Uri"] = checkpoint["S3Uri"].rstrip("/") + "/" + trial.job
            request["CheckpointConfig"] = checkpoint
        return request

    # --- views ---------------------------------------------------------------------------------
    def counters(self, jobs: dict[str, TrainingJob]) -> tuple[dict[str, int], dict[str, int]]:
        status = {"Completed": 0, "InProgress": 0, "RetryableError": 0, "NonRetryableError": 0, "Stopped": 0}
        objective = {"Succeeded": 0, "Pending": 0, "Failed": 0}
        for trial in self.trials:
            job = jobs.get(trial.job)
            state = job.status if job else ("Failed" if trial.error else "InProgress")
            if state in ("InProgress", "Stopping"):
                status["InProgress"] += 1
            elif state == "Failed":
                status["RetryableError" if job is not None and job.retryable else "NonRetryableError"] += 1
            else:
                status[state] += 1
            objective[_objective_status(trial)] += 1
        return status, objective

    def trial_summary(self, trial: Trial, job: TrainingJob | None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "TrainingJobName": trial.job,
            "TrainingJobArn": arn(self.region, "training-job", trial.job),
            "TuningJobName": self.name,
            "CreationTime": job.created if job else self.created,
            "TrainingJobStatus": job.status if job else ("Failed" if trial.error else "InProgress"),
            "TunedHyperParameters": trial.hyperparameters,
            "ObjectiveStatus": _objective_status(trial),
        }
        if trial.definition:
            out["TrainingJobDefinitionName"] = trial.definition
        if job is not None:
            if job.started:
                out["TrainingStartTime"] = job.started
            if job.ended:
                out["TrainingEndTime"] = job.ended
            if job.failure_reason:
                out["FailureReason"] = job.failure_reason
        elif trial.error:
            out["FailureReason"] = trial.error[:1024]
        if trial.objective is not None:
            objective = self.objective(self.definition(trial.definition))
            out["FinalHyperParameterTuningJobObjectiveMetric"] = {
                "Type": objective["Type"],
                "MetricName": objective["MetricName"],
                "Value": trial.objective,
            }
        return out

    def best_trial(self) -> Trial | None:
        best = None
        for trial in self.trials:
            if trial.evaluated and (best is None or self.better(trial.value, best.value)):
                best = trial
        return best

    def describe(self, jobs: dict[str, TrainingJob]) -> dict[str, Any]:
        status, objective = self.counters(jobs)
        config = {**self.config, "TrainingJobEarlyStoppingType": self.config.get("TrainingJobEarlyStoppingType", "Off")}
        out: dict[str, Any] = {
            "HyperParameterTuningJobName": self.name,
            "HyperParameterTuningJobArn": self.arn,
            "HyperParameterTuningJobConfig": config,
            "HyperParameterTuningJobStatus": self.status,
            "CreationTime": self.created,
            "LastModifiedTime": self.modified,
            "TrainingJobStatusCounters": status,
            "ObjectiveStatusCounters": objective,
            "ConsumedResources": {"RuntimeInSeconds": self.runtime_seconds},
        }
        for key in ("TrainingJobDefinition", "TrainingJobDefinitions", "WarmStartConfig"):
            if key in self.spec:
                out[key] = self.spec[key]
        if self.ended:
            out["HyperParameterTuningEndTime"] = self.ended
        if self.failure_reason:
            out["FailureReason"] = self.failure_reason
        best = self.best_trial()
        if best is not None:
            out["BestTrainingJob"] = self.trial_summary(best, jobs.get(best.job))
        if (self.spec.get("WarmStartConfig") or {}).get("WarmStartType") == "IdenticalDataAndAlgorithm":
            # Only then (API reference, OverallBestTrainingJob): with TransferLearning the parents' objectives
            # were measured on other data, so they do not compare with this job's.
            overall = out.get("BestTrainingJob")
            parent = self.parent_best
            if parent is not None and (
                overall is None
                or self.better(
                    parent["FinalHyperParameterTuningJobObjectiveMetric"]["Value"],
                    overall["FinalHyperParameterTuningJobObjectiveMetric"]["Value"],
                )
            ):
                overall = parent
            if overall is not None:
                out["OverallBestTrainingJob"] = overall
        details: dict[str, Any] = {}
        if self.config.get("TuningJobCompletionCriteria"):
            details["NumberOfTrainingJobsObjectiveNotImproving"] = self.not_improving
        if self.converged_at is not None:
            details["ConvergenceDetectedTime"] = self.converged_at
        if details:
            out["TuningJobCompletionDetails"] = details
        return out

    def summary(self, jobs: dict[str, TrainingJob]) -> dict[str, Any]:
        status, objective = self.counters(jobs)
        out: dict[str, Any] = {
            "HyperParameterTuningJobName": self.name,
            "HyperParameterTuningJobArn": self.arn,
            "HyperParameterTuningJobStatus": self.status,
            "Strategy": self.strategy,
            "CreationTime": self.created,
            "LastModifiedTime": self.modified,
            "TrainingJobStatusCounters": status,
            "ObjectiveStatusCounters": objective,
            "ResourceLimits": self.config["ResourceLimits"],
        }
        if self.ended:
            out["HyperParameterTuningEndTime"] = self.ended
        return out

    # --- persistence (SpecResource: record/from_record) ---------------------------------------
    def record(self) -> dict[str, Any]:
        return {**super().record(), "trials": [trial.record() for trial in self.trials]}

    @classmethod
    def from_record(cls, region: str, body: dict[str, Any]) -> TuningJob:
        tuning = super().from_record(region, body)
        tuning.trials = [Trial.from_record(record) for record in tuning.trials]
        return tuning

    _STATE = tuple(
        (
            "created modified ended status failure_reason stop_requested trials not_improving converged_at "
            "runtime_seconds parent_best"
        ).split()
    )


def _objective_status(trial: Trial) -> str:
    if not trial.finished:
        return "Pending"
    return "Succeeded" if trial.objective is not None else "Failed"


def _single_instance(definition: dict[str, Any]) -> dict[str, Any]:
    """The ResourceConfig of a job from HyperParameterTuningResourceConfig: with InstanceConfigs, the first one,
    which AWS tries first and which always has capacity locally."""
    tuning = definition.get("HyperParameterTuningResourceConfig") or {}
    if tuning.get("InstanceConfigs"):
        tuning = tuning["InstanceConfigs"][0]
    return {
        "InstanceType": tuning.get("InstanceType", "ml.m5.large"),
        "InstanceCount": tuning.get("InstanceCount", 1),
        "VolumeSizeInGB": tuning.get("VolumeSizeInGB", 10),
    }

"""Training jobs: validation of CreateTrainingJob beyond the wire shape, status machine, describe/summary."""

from __future__ import annotations

import re
from array import array
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from ..exceptions import ValidationException
from ..protocol import operation_model
from .base import TERMINAL_STATUSES, SpecResource, arn, now
from .debugger import STATUS_DETAILS, initial_statuses
from .support import refuse_unsupported_training

DEFAULT_MAX_RUNTIME = 86400

# What DescribeTrainingJob may echo back from the create request: every member both shapes have.
_ECHOED = sorted(
    set(operation_model("CreateTrainingJob").input_shape.members)
    & set(operation_model("DescribeTrainingJob").output_shape.members) - {"TrainingJobName", "Tags"}
)


def validate_create(spec: dict[str, Any]) -> None:
    """The checks AWS makes that the service model cannot express. Messages name the field."""
    algo = spec.get("AlgorithmSpecification")
    if not algo:
        raise ValidationException("AlgorithmSpecification is required: give a TrainingImage.")
    if not algo.get("TrainingImage") and not algo.get("AlgorithmName"):
        raise ValidationException(
            "AlgorithmSpecification.TrainingImage: either TrainingImage or AlgorithmName must be specified."
        )
    if not spec.get("ResourceConfig"):
        raise ValidationException("ResourceConfig is required.")
    refuse_unsupported_training(spec)
    stopping = spec.get("StoppingCondition") or {}
    max_run = stopping.get("MaxRuntimeInSeconds", DEFAULT_MAX_RUNTIME)
    max_wait = stopping.get("MaxWaitTimeInSeconds")
    if spec.get("EnableManagedSpotTraining"):
        if max_wait is None:
            raise ValidationException(
                "StoppingCondition.MaxWaitTimeInSeconds is required when EnableManagedSpotTraining is true."
            )
        if max_wait < max_run:
            raise ValidationException(
                f"Invalid MaxWaitTimeInSeconds: StoppingCondition.MaxWaitTimeInSeconds ({max_wait}) must be "
                f"greater than or equal to StoppingCondition.MaxRuntimeInSeconds ({max_run})."
            )
    elif max_wait is not None:
        raise ValidationException(
            "Invalid MaxWaitTimeInSeconds. It is only supported when EnableManagedSpotTraining is set to true"
        )
    names = [c["ChannelName"] for c in spec.get("InputDataConfig") or []]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValidationException(f"InputDataConfig: channel names must be unique, duplicated: {duplicates}")
    for i, definition in enumerate(algo.get("MetricDefinitions") or [], start=1):
        try:
            compiled = re.compile(definition["Regex"])
        except re.error as exc:
            raise ValidationException(
                f"AlgorithmSpecification.MetricDefinitions.{i}.Regex is not a valid regular expression "
                f"({definition['Regex']!r}): {exc}"
            ) from exc
        if compiled.groups < 1:
            raise ValidationException(
                f"AlgorithmSpecification.MetricDefinitions.{i}.Regex must have a capture group for the value "
                f"of metric {definition['Name']!r}."
            )


class TrainingJob(SpecResource):
    """One training job: its create request (`spec`) plus what SageMaker tracks while it runs."""

    kind = "training-job"

    def __init__(self, region: str, spec: dict[str, Any], tuning_job_arn: str | None = None) -> None:
        self.region = region
        self.spec = spec
        self.name: str = spec["TrainingJobName"]
        self.arn = arn(region, "training-job", self.name)
        self.tuning_job_arn = tuning_job_arn
        self.created = now()
        self.modified = self.created
        self.status = "InProgress"
        self.secondary = "Starting"
        self.transitions: list[dict[str, Any]] = [
            {
                "Status": "Starting",
                "StartTime": self.created,
                "StatusMessage": "Launching requested ML instances",
            }
        ]
        self.failure_reason: str | None = None
        self.started: datetime | None = None
        self.ended: datetime | None = None
        # metric name -> its (timestamp, value) pairs in emission order; the last value is the final one.
        self.metrics: dict[str, MetricSeries] = {}
        self.training_seconds: int | None = None
        self.billable_seconds: int | None = None
        self.stop_requested = False
        self.attempts = 0
        self.retries = 0  # restarts after an internal error, up to RetryStrategy.MaximumRetryAttempts
        self.retryable = False  # failed with an internal error (AWS counts it a RetryableError in a tuning job)
        self.pids: list[int] = []
        # DebugRuleEvaluationStatuses, one per DebugRuleConfigurations entry (see models/debugger.py).
        self.rule_statuses: list[dict[str, Any]] = initial_statuses(spec, region, self.created)

    # --- state machine -------------------------------------------------------------------------
    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    def set_secondary(self, status: str, message: str) -> None:
        at = now()
        if self.transitions and "EndTime" not in self.transitions[-1]:
            self.transitions[-1]["EndTime"] = at
        self.transitions.append({"Status": status, "StartTime": at, "StatusMessage": message})
        self.secondary = status
        self.modified = at
        if status == "Training" and self.started is None:
            self.started = at

    def finish(
        self, status: str, secondary: str, message: str, reason: str | None = None, retryable: bool = False
    ) -> None:
        self.set_secondary(secondary, message)
        self.transitions[-1]["EndTime"] = self.transitions[-1]["StartTime"]
        self.status = status
        self.failure_reason = reason
        self.retryable = retryable
        self.ended = self.modified
        if self.started is None:
            self.started = self.ended
        # A rule that has not fired ends with the job: it has read every value the job emitted and found
        # nothing, unless the job was stopped (StopTrainingJob, a tuner, a rule's StopTraining action), which
        # stops its rule evaluations too.
        self._end_rules(("InProgress", "Stopping"), "Stopped" if self.stop_requested else "NoIssuesFound")

    # --- Debugger rules ------------------------------------------------------------------------
    def _rule_status(self, name: str) -> dict[str, Any]:
        return next(s for s in self.rule_statuses if s["RuleConfigurationName"] == name)

    def _end_rules(self, current: tuple[str, ...], status: str) -> None:
        for entry in self.rule_statuses:
            if entry["RuleEvaluationStatus"] in current:
                entry["RuleEvaluationStatus"] = status
                entry["LastModifiedTime"] = self.modified

    def rules_stopping(self) -> None:
        """The job is being stopped: its rule evaluations still running are stopped with it."""
        self._end_rules(("InProgress",), "Stopping")

    def rule_in_progress(self, name: str) -> bool:
        return self._rule_status(name)["RuleEvaluationStatus"] == "InProgress"

    def rule_issue_found(self, name: str, rule: str, step: int) -> None:
        entry = self._rule_status(name)
        entry.update(
            RuleEvaluationStatus="IssuesFound",
            StatusDetails=STATUS_DETAILS.format(rule=rule, step=step),
            LastModifiedTime=now(),
        )

    def rule_error(self, name: str, details: str) -> None:
        entry = self._rule_status(name)
        entry.update(RuleEvaluationStatus="Error", StatusDetails=details[:1024], LastModifiedTime=now())

    def may_retry(self) -> bool:
        """Whether an internal error may restart the job: RetryStrategy retries a job that fails with an
        InternalServerError up to MaximumRetryAttempts times (API reference, RetryStrategy)."""
        return self.retries < (self.spec.get("RetryStrategy") or {}).get("MaximumRetryAttempts", 0)

    def record_metric(self, name: str, value: float, at: datetime) -> None:
        self.metrics.setdefault(name, MetricSeries()).append(at, value)

    # --- views ---------------------------------------------------------------------------------
    @property
    def model_artifacts(self) -> str:
        base = self.spec["OutputDataConfig"]["S3OutputPath"].rstrip("/")
        return f"{base}/{self.name}/output/model.tar.gz"

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {key: self.spec[key] for key in _ECHOED if key in self.spec}
        out.update(
            TrainingJobName=self.name,
            TrainingJobArn=self.arn,
            ModelArtifacts={"S3ModelArtifacts": self.model_artifacts},
            TrainingJobStatus=self.status,
            SecondaryStatus=self.secondary,
            StoppingCondition=self.spec.get("StoppingCondition") or {"MaxRuntimeInSeconds": DEFAULT_MAX_RUNTIME},
            CreationTime=self.created,
            LastModifiedTime=self.modified,
            SecondaryStatusTransitions=self.transitions,
            EnableNetworkIsolation=self.spec.get("EnableNetworkIsolation", False),
            EnableInterContainerTrafficEncryption=self.spec.get("EnableInterContainerTrafficEncryption", False),
            EnableManagedSpotTraining=self.spec.get("EnableManagedSpotTraining", False),
        )
        if self.tuning_job_arn:
            out["TuningJobArn"] = self.tuning_job_arn
        if self.failure_reason:
            out["FailureReason"] = self.failure_reason
        if self.started:
            out["TrainingStartTime"] = self.started
        if self.ended:
            out["TrainingEndTime"] = self.ended
        if self.metrics:
            out["FinalMetricDataList"] = [
                {"MetricName": name, "Value": series[-1][1], "Timestamp": series[-1][0]}
                for name, series in self.metrics.items()
            ]
        if self.training_seconds is not None:
            out["TrainingTimeInSeconds"] = self.training_seconds
            out["BillableTimeInSeconds"] = self.billable_seconds
        if self.rule_statuses:
            out["DebugRuleEvaluationStatuses"] = [dict(entry) for entry in self.rule_statuses]
        if self.spec.get("ProfilerConfig"):  # accepted only with DisableProfiler (models/debugger.py)
            out["ProfilingStatus"] = "Disabled"
        return out

    def summary(self) -> dict[str, Any]:
        out = {
            "TrainingJobName": self.name,
            "TrainingJobArn": self.arn,
            "CreationTime": self.created,
            "LastModifiedTime": self.modified,
            "TrainingJobStatus": self.status,
            "SecondaryStatus": self.secondary,
        }
        if self.ended:
            out["TrainingEndTime"] = self.ended
        return out

    # --- persistence (SpecResource: record/from_record) ---------------------------------------
    _STATE = tuple(
        (
            "tuning_job_arn created modified status secondary transitions failure_reason started ended "
            "metrics training_seconds billable_seconds stop_requested attempts retries retryable pids rule_statuses"
        ).split()
    )

    def record(self) -> dict[str, Any]:
        body = super().record()
        body["metrics"] = {name: [[at, value] for at, value in series] for name, series in self.metrics.items()}
        return body

    @classmethod
    def from_record(cls, region: str, body: dict[str, Any]) -> Any:
        job = super().from_record(region, body)
        job.metrics = {name: MetricSeries(points) for name, points in (body.get("metrics") or {}).items()}
        return job


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class MetricSeries:
    """One metric's (timestamp, value) pairs in emission order, as two arrays: 16 bytes a value where a list of
    [datetime, float] takes ~150, since the service holds every training job it ever ran (their curves feed early
    stopping, Debugger rules after a restart and FinalMetricDataList). Times are kept to the microsecond, in UTC."""

    __slots__ = ("_micros", "_values")

    def __init__(self, points: Iterable[tuple[datetime, float] | list[Any]] = ()) -> None:
        self._micros = array("q")
        self._values = array("d")
        for at, value in points:
            self.append(at, value)

    def append(self, at: datetime, value: float) -> None:
        self._micros.append((at - _EPOCH) // _MICROSECOND)
        self._values.append(value)

    def values(self) -> list[float]:
        return self._values.tolist()

    def __len__(self) -> int:
        return len(self._values)

    def __getitem__(self, index: int) -> tuple[datetime, float]:
        return _EPOCH + self._micros[index] * _MICROSECOND, self._values[index]

    def __iter__(self) -> Iterator[tuple[datetime, float]]:
        for micros, value in zip(self._micros, self._values, strict=True):
            yield _EPOCH + micros * _MICROSECOND, value

    def __repr__(self) -> str:
        return f"MetricSeries({list(self)!r})"

"""Stop a tuning job's overfitting training jobs: SageMaker Debugger's Overfit rule, run by the pipeline.

On AWS a Debugger rule cannot be attached to a tuning job's training jobs: HyperParameterTrainingJobDefinition
has no DebugRuleConfigurations (botocore refuses the field), and Debugger is closed to new customers. So the
pipeline applies the rule itself, the same way on AWS and on the local SageMaker: while the tuning job runs, the
`watch_overfit` task reads each running training job's log from CloudWatch Logs, parses the training and
validation loss with the job's own metric definitions, and stops a job (StopTrainingJob) once the rule fires.
The tuning job then treats it as it treats a job stopped early: its objective is the last value it reached.

The rule is AWS's Overfit (https://docs.aws.amazon.com/sagemaker/latest/dg/debugger-built-in-rules.html#overfit):
from `start_step` on, (validation - training) / |training| above `ratio_threshold` for `patience` consecutive
steps, with AWS's defaults (0, 1, 0.1). A step is a round: the n-th value of each metric in the log.

A job the task stops is tagged first (`hpo:stopped-by` = Overfit, `hpo:stopped-at-step`), so a retried or
rescheduled task, and the report, know which jobs the rule stopped without keeping any state of their own.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from .report import metric_curve, read_job_log
from .tuning_summary import TERMINAL_STATUSES

if TYPE_CHECKING:
    from .spec import ModelSpec

STOPPED_BY_TAG = "hpo:stopped-by"
STEP_TAG = "hpo:stopped-at-step"
RULE_NAME = "Overfit"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OverfitRule:
    """Which pair of loss metrics to compare (metric names and the regexes that read them from the log), AWS's rule
    parameters, and the static hyperparameter that counts a job's rounds (to tell the rounds a stop saved)."""

    train: str
    validation: str
    train_regex: str
    validation_regex: str
    ratio_threshold: float = 0.1
    patience: int = 1
    start_step: int = 0
    rounds: str | None = None

    def curves(self, lines: list[str]) -> tuple[list[float], list[float]]:
        """The training and validation loss at every step the log shows."""
        return metric_curve(lines, self.train_regex), metric_curve(lines, self.validation_regex)

    def to_xcom(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_xcom(cls, values: dict[str, Any]) -> OverfitRule:
        return cls(**values)


def rule_for(spec: ModelSpec) -> OverfitRule:
    """The rule of a spec's `overfit_rule` section, with the regexes its jobs' metrics are read with."""
    declared = spec.overfit_rule
    if declared is None:
        raise ValueError(f"{spec.name}'s spec declares no overfit_rule")
    return OverfitRule(
        train=declared.train,
        validation=declared.validation,
        train_regex=spec.metric_regex(declared.train),
        validation_regex=spec.metric_regex(declared.validation),
        ratio_threshold=declared.ratio_threshold,
        patience=declared.patience,
        start_step=declared.start_step,
        rounds=spec.rounds_hyperparameter,
    )


def overfit_step(rule: OverfitRule, train: Sequence[float], validation: Sequence[float]) -> int | None:
    """The step at which the rule fires on these curves (0-based), or None. Only steps both curves reached count."""
    exceeded = 0
    for step in range(rule.start_step, min(len(train), len(validation))):
        if loss_gap(train[step], validation[step]) > rule.ratio_threshold:
            exceeded += 1
            if exceeded >= rule.patience:
                return step
        else:
            exceeded = 0
    return None


def loss_gap(train: float, validation: float) -> float:
    """What the rule compares with ratio_threshold: (validation - train) / |train|."""
    if train == 0:
        return float("inf") if validation > 0 else 0.0
    return (validation - train) / abs(train)


# --------------------------------------------------------------------------------------------- watching


@dataclass(frozen=True)
class Stopped:
    job: str
    step: int  # the step at which the rule fired; the job may have run a few rounds more before it stopped


def check_running_jobs(
    sm_client: Any,
    logs_client: Any,
    tuning_job_name: str,
    rule: OverfitRule,
) -> str | None:
    """One pass over the tuning job's running training jobs: stop those the rule fires on.

    Returns the tuning job's status (None while it does not exist yet). Safe to repeat: a job already tagged is
    stopped again (a no-op once it stopped), and a job that ended meanwhile is left as it ended.
    """
    from botocore.exceptions import ClientError

    try:
        described = sm_client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=tuning_job_name)
    except ClientError as error:
        if error.response["Error"]["Code"] == "ResourceNotFound":
            return None
        raise
    status = described["HyperParameterTuningJobStatus"]
    if status in TERMINAL_STATUSES:
        return status
    pages = sm_client.get_paginator("list_training_jobs_for_hyper_parameter_tuning_job").paginate(
        HyperParameterTuningJobName=tuning_job_name, StatusEquals="InProgress"
    )
    for summary in (s for page in pages for s in page["TrainingJobSummaries"]):
        name = summary["TrainingJobName"]
        step = overfit_step(rule, *rule.curves(read_job_log(logs_client, name)))
        if step is None:
            continue
        sm_client.add_tags(
            ResourceArn=summary["TrainingJobArn"],
            Tags=[{"Key": STOPPED_BY_TAG, "Value": RULE_NAME}, {"Key": STEP_TAG, "Value": str(step)}],
        )
        try:
            sm_client.stop_training_job(TrainingJobName=name)
        except ClientError as error:  # it ended between the describe and the stop: it stays as it ended
            log.info("Could not stop %s: %s", name, error)
            continue
        log.info("Stopped %s: %s fired at step %d", name, RULE_NAME, step)
    return status


def stopped_by_rule(sm_client: Any, tuning_job_name: str) -> list[Stopped]:
    """The tuning job's training jobs that the rule stopped: Stopped, and tagged by `check_running_jobs`."""
    pages = sm_client.get_paginator("list_training_jobs_for_hyper_parameter_tuning_job").paginate(
        HyperParameterTuningJobName=tuning_job_name, StatusEquals="Stopped"
    )
    stopped = []
    for summary in (s for page in pages for s in page["TrainingJobSummaries"]):
        arn = summary["TrainingJobArn"]
        tags = {t["Key"]: t["Value"] for t in sm_client.list_tags(ResourceArn=arn).get("Tags", [])}
        if tags.get(STOPPED_BY_TAG) == RULE_NAME:
            stopped.append(Stopped(summary["TrainingJobName"], int(tags.get(STEP_TAG, "0"))))
    return sorted(stopped, key=lambda s: s.job)


def summarize_stops(
    sm_client: Any,
    logs_client: Any,
    tuning_job_name: str,
    rule: OverfitRule,
) -> dict[str, Any]:
    """What the rule did to the tuning job (an XCom): each stopped job's firing step, the rounds it ran (its log's
    validation values) and was to run (the `rounds` hyperparameter), and the rounds saved in all."""
    jobs: list[dict[str, Any]] = []
    for stop in stopped_by_rule(sm_client, tuning_job_name):
        _, validation = rule.curves(read_job_log(logs_client, stop.job))
        planned = None
        if rule.rounds:
            value = sm_client.describe_training_job(TrainingJobName=stop.job)["HyperParameters"].get(rule.rounds, "")
            planned = int(value) if str(value).isdigit() else None
        jobs.append({"job": stop.job, "step": stop.step, "rounds": len(validation), "planned_rounds": planned})
    saved = sum(max(0, j["planned_rounds"] - j["rounds"]) for j in jobs if j["planned_rounds"] is not None)
    return {"rule": RULE_NAME, "stopped": jobs, "rounds_saved": saved}

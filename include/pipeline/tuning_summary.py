"""What a tuning task logs and returns: progress lines, config hashes and a compact XCom summary (pure)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

CONFIG_HASH_TAG = "hpo:config-hash"
# Where a tuning job ends (HyperParameterTuningJobStatus); the pipeline side's one definition.
TERMINAL_STATUSES = frozenset({"Completed", "Failed", "Stopped"})


def config_hash(config: dict[str, Any]) -> str:
    """A stable hash of a CreateHyperParameterTuningJob request, tags left out (they may carry the hash)."""
    body = {k: v for k, v in config.items() if k != "Tags"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:16]


def progress_line(described: dict[str, Any]) -> str:
    """`7/20 jobs done, 2 running, best validation:auc=0.7312` from a DescribeHyperParameterTuningJob answer."""
    counters = described.get("TrainingJobStatusCounters", {})
    done = sum(counters.get(k, 0) for k in ("Completed", "Stopped", "NonRetryableError", "RetryableError"))
    limits = described["HyperParameterTuningJobConfig"]["ResourceLimits"]
    total = limits.get("MaxNumberOfTrainingJobs")
    line = f"{done}/{total if total is not None else '?'} jobs done, {counters.get('InProgress', 0)} running"
    best = (described.get("BestTrainingJob") or {}).get("FinalHyperParameterTuningJobObjectiveMetric")
    if best:
        line += f", best {best['MetricName']}={best['Value']:.4f}"
    return line


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def summarize(described: dict[str, Any], best_artifact: str | None) -> dict[str, Any]:
    """The tuning task's XCom: small, JSON-safe, enough for evaluate/deploy/report."""
    best = described.get("BestTrainingJob") or {}
    objective = best.get("FinalHyperParameterTuningJobObjectiveMetric") or {}
    return {
        "tuning_job_name": described["HyperParameterTuningJobName"],
        "tuning_job_arn": described["HyperParameterTuningJobArn"],
        "status": described["HyperParameterTuningJobStatus"],
        "strategy": described["HyperParameterTuningJobConfig"]["Strategy"],
        "training_job_counters": described.get("TrainingJobStatusCounters", {}),
        "best_training_job": best.get("TrainingJobName"),
        "best_hyperparameters": best.get("TunedHyperParameters", {}),
        "objective_metric": objective.get("MetricName"),
        "objective_type": described["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]["Type"],
        "objective_value": objective.get("Value"),
        "best_model_artifact": best_artifact,
        "created": _iso(described.get("CreationTime")),
        "ended": _iso(described.get("HyperParameterTuningEndTime")),
    }

"""What one run of the tuning chain will do, decided in its first task before anything is created.

`plan_run` checks the Params (ParamError names the Param), picks the held-out day (the `holdout_date` Param,
else the newest date the triggering asset events carry, else the run's logical date: manual and asset-triggered
runs in Airflow 3 may have none), and derives every
name from (dag_id, run_id) so a retried, cleared or backfilled run finds its own jobs and files. A backfill
run is not live: it evaluates and records, and never deploys.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .naming import RESOURCE_MAX, job_name_for
from .tuning_config import ParamError, TuningParams

BACKFILL_RUN_TYPE = "backfill"
HISTORY_PREFIX = "champion/history"


@dataclass(frozen=True)
class Settings:
    """Where things live; from Airflow Variables (see README), the same for every run."""

    bucket: str = "hpo-demo"
    role_arn: str = "arn:aws:iam::123456789012:role/SageMakerRole"
    endpoint: str = "flight-delay"
    instance_type: str = "ml.m5.large"
    max_runtime_seconds: int = 1800


def holdout_day(value: Any, logical_date: datetime.datetime | None, event_dates: Sequence[str] = ()) -> datetime.date:
    """The `holdout_date` Param, else the newest date the triggering asset events landed, else the logical date."""
    if value:
        try:
            return datetime.date.fromisoformat(str(value))
        except ValueError:
            raise ParamError(f"Param holdout_date must be a date like 2013-02-27, got {value!r}") from None
    if event_dates:
        try:
            return max(datetime.date.fromisoformat(str(d)) for d in event_dates)
        except ValueError:
            raise ParamError(
                f"the triggering asset events carry dates that are not dates: {list(event_dates)}"
            ) from None
    if logical_date is None:
        raise ParamError("Param holdout_date is required for a run without a logical date or asset event date")
    return logical_date.date()


def asset_event_dates(triggering_asset_events: Any, bucket: str | None = None) -> list[str]:
    """The "date" each triggering asset event carries in its extra (ingest_flights puts it there).

    An event that names another bucket (a test, another deployment on the same Airflow) is not about this
    run's data and is left out; an event without a bucket counts.
    """
    if not triggering_asset_events:
        return []
    return [
        str(event.extra["date"])
        for events in triggering_asset_events.values()
        for event in events
        if (event.extra or {}).get("date") and (event.extra or {}).get("bucket", bucket) == bucket
    ]


def plan_run(
    params: dict[str, Any],
    *,
    dag_id: str,
    run_id: str,
    run_type: Any,
    logical_date: datetime.datetime | None,
    settings: Settings,
    event_dates: Sequence[str] = (),
) -> dict[str, Any]:
    tuning = TuningParams.from_params(params)
    day = holdout_day(params.get("holdout_date"), logical_date, event_dates)
    try:
        margin = float(params.get("promotion_margin", 0.0))
    except (TypeError, ValueError):
        raise ParamError(f"Param promotion_margin must be a number, got {params.get('promotion_margin')!r}") from None
    if not -1 <= margin <= 1:
        raise ParamError(f"Param promotion_margin must be from -1 to 1, got {margin}")
    try:
        floor = float(params.get("min_smoke_auc", 0.0))
    except (TypeError, ValueError):
        raise ParamError(f"Param min_smoke_auc must be a number, got {params.get('min_smoke_auc')!r}") from None
    if not 0 <= floor <= 1:
        raise ParamError(f"Param min_smoke_auc must be from 0 to 1, got {floor}")
    tuning_job = job_name_for("hpo", dag_id, run_id, "tune")
    run_prefix = f"runs/{job_name_for('run', dag_id, run_id, 'prepare_data', max_length=RESOURCE_MAX)}"
    return {
        "tuning": tuning,
        "holdout_day": day,
        # The task SDK's DagRunType enum prints as "DagRunType.BACKFILL"; its value is the wire string.
        "live": getattr(run_type, "value", run_type) != BACKFILL_RUN_TYPE,
        "tuning_job_name": tuning_job,
        "run_prefix": run_prefix,
        "checkpoint_uri": f"s3://{settings.bucket}/checkpoints/{tuning_job}",
        "output_uri": f"s3://{settings.bucket}/{run_prefix}/output",
        "report_uri": f"s3://{settings.bucket}/reports/{tuning_job}/index.html",
        "model_name": job_name_for("hpo-model", dag_id, run_id, "deploy", max_length=RESOURCE_MAX),
        "endpoint_config_name": job_name_for("hpo-config", dag_id, run_id, "deploy", max_length=RESOURCE_MAX),
        "margin": margin,
    }


def deploy_decision(
    record: dict[str, Any], *, live: bool, deploy: bool, require_approval: bool, min_auc: float = 0.0
) -> tuple[str | None, str]:
    """Which task comes after evaluate ("approve", "deploy" or none) and why, for the log."""
    if not live:
        return None, "a backfill run never deploys: it must not replace the model serving today"
    if not deploy:
        return None, "the deploy Param is off"
    if record["winner"] != "challenger":
        return None, f"the champion stays: {record['reason']}"
    if record["challenger_auc"] < min_auc:
        # The smoke test would measure the same AUC on the same rows and roll it back: do not deploy it at all.
        return None, f"the challenger's held-out AUC {record['challenger_auc']:.4f} is below min_smoke_auc {min_auc}"
    if require_approval:
        return "approve", f"{record['reason']}; waiting for approval"
    return "deploy", record["reason"]

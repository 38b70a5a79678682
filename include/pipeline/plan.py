"""What one run of the tuning chain will do, decided in its first task before anything is created.

`plan_names` derives every name from (spec, dag_id, run_id), so a retried, cleared or backfilled run finds its
own jobs and files, and two models never share one. `holdout_day` picks the last held-out day: the
`holdout_date` Param; else the newest date the triggering asset events carry; else, for a manual run, the newest
landed partition up to the run's logical date (a run triggered from the UI with the defaults works on data that
ends years ago); else the logical date. `RunPlan` is what `prepare_data` hands the other tasks: one typed
object, passed as XCom with `to_xcom`/`from_xcom`. A backfill run is not live: it evaluates and records, and
never deploys.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

from .naming import RESOURCE_MAX, job_name_for
from .params import ParamError, RunParams
from .scoring import METRICS

if TYPE_CHECKING:
    from .champion import Evaluation
    from .spec import ModelSpec

BACKFILL_RUN_TYPE = "backfill"
LOGICAL_DATE = "the run's logical date"


class PastTheData(Exception):
    """A scheduled run for a day after the data's last day: nothing to tune, the run skips."""


MANUAL_RUN_TYPE = "manual"


@dataclass(frozen=True)
class Settings:
    """Where things live: Airflow Variables shared by every model (see README), the same for every run."""

    bucket: str = "hpo-demo"
    role_arn: str = "arn:aws:iam::123456789012:role/SageMakerRole"
    instance_type: str | None = None  # a deployment-wide override of the specs' instance types
    endpoint: str | None = None  # this model's endpoint, if a Variable renames it


def _run_type(run_type: Any) -> str:
    # The task SDK's DagRunType enum prints as "DagRunType.BACKFILL"; its value is the wire string.
    return str(getattr(run_type, "value", run_type))


def holdout_day(
    value: datetime.date | None,
    logical_date: datetime.datetime | None,
    event_dates: Sequence[str] = (),
    *,
    run_type: Any = None,
    landed: Callable[[], list[datetime.date]] | None = None,
) -> tuple[datetime.date, str]:
    """The last held-out day of the run and why it is that day (for the log)."""
    if value:
        return value, "the holdout_date Param"
    if event_dates:
        try:
            return max(datetime.date.fromisoformat(str(d)) for d in event_dates), "the newest landed asset event"
        except ValueError:
            raise ParamError(
                f"the triggering asset events carry dates that are not dates: {list(event_dates)}", "holdout_date"
            ) from None
    manual = _run_type(run_type) == MANUAL_RUN_TYPE
    if (manual or logical_date is None) and landed is not None:
        limit = logical_date.date() if logical_date is not None else datetime.date.max
        days = [day for day in landed() if day <= limit]
        if not days:
            raise ParamError(
                f"Param holdout_date is empty and no partition has landed up to {limit}: land data first "
                "or set holdout_date",
                "holdout_date",
            )
        return days[-1], f"the newest landed partition up to {'the logical date' if logical_date else 'now'}"
    if logical_date is None:
        raise ParamError(
            "Param holdout_date is required for a run without a logical date or asset event date", "holdout_date"
        )
    return logical_date.date(), LOGICAL_DATE


def asset_event_dates(triggering_asset_events: Any, bucket: str | None = None) -> list[str]:
    """The "date" each triggering asset event carries in its extra (the ingest DAG puts it there).

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


@dataclass(frozen=True)
class RunNames:
    tuning_job: str
    run_prefix: str
    model: str
    endpoint_config: str


def plan_names(spec: ModelSpec, dag_id: str, run_id: str) -> RunNames:
    """Every name of a run, from the run alone: a retry or a clear finds the same ones."""
    prefix = spec.jobs_prefix
    return RunNames(
        tuning_job=job_name_for(prefix, dag_id, run_id, "tune"),
        run_prefix=spec.key("runs", job_name_for("run", dag_id, run_id, "prepare_data", max_length=RESOURCE_MAX)),
        model=job_name_for(f"{prefix}-model", dag_id, run_id, "deploy", max_length=RESOURCE_MAX),
        endpoint_config=job_name_for(f"{prefix}-config", dag_id, run_id, "deploy", max_length=RESOURCE_MAX),
    )


@dataclass(frozen=True)
class RunPlan:
    """What prepare_data decided and wrote; every later task reads it (XCom via to_xcom/from_xcom)."""

    model: str
    spec_file: str
    dag_id: str
    run_id: str
    live: bool
    params: dict[str, Any]  # RunParams.to_xcom()
    use_spot: bool
    max_jobs: int
    intermediate_metrics: bool  # Hyperband and Auto early stopping need the objective every epoch
    bucket: str
    role_arn: str
    endpoint: str
    hosting_instance_type: str
    tuning_job_name: str
    run_prefix: str
    model_name: str
    endpoint_config_name: str
    checkpoint_uri: str
    output_uri: str
    report_uri: str
    history_prefix: str
    channels: dict[str, str]
    holdout_uri: str
    code_uri: str | None
    holdout_date: str
    holdout_days: list[str]
    train_days: list[str]
    validation_days: list[str]
    rows: dict[str, int]
    image: str
    entry_point: str | None  # the script on this machine, for the metric check; None for the built-in algorithm
    definition: dict[str, Any]
    tuning_request: dict[str, Any]
    overfit_rule: dict[str, Any] | None = None  # OverfitRule.to_xcom() with stop_on_overfit, else None

    @property
    def run_params(self) -> RunParams:
        return RunParams.from_xcom(self.params)

    def deploy_decision(self, record: Evaluation) -> tuple[str | None, str]:
        """deploy_decision for this run: its live flag and its deploy, approval and smoke threshold Params."""
        run = self.run_params
        return deploy_decision(
            record,
            live=self.live,
            deploy=run.deploy,
            require_approval=run.require_approval,
            threshold=run.smoke_threshold,
        )

    def to_xcom(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_xcom(cls, values: dict[str, Any]) -> RunPlan:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})


def is_live(run_type: Any) -> bool:
    return _run_type(run_type) != BACKFILL_RUN_TYPE


def deploy_decision(
    record: Evaluation, *, live: bool, deploy: bool, require_approval: bool, threshold: float
) -> tuple[str | None, str]:
    """Which task comes after evaluate ("approve", "deploy" or none) and why, for the log."""
    if not live:
        return None, "a backfill run never deploys: it must not replace the model serving today"
    if not deploy:
        return None, "the deploy Param is off"
    if record.winner != "challenger":
        return None, f"the champion stays: {record.reason}"
    metric = METRICS[record.metric]
    score = record.challenger_score
    if not metric.better(score, threshold):
        # The smoke test would measure the same score on the same rows and roll it back: do not deploy it at all.
        side = "below" if metric.maximize else "above"
        return None, f"the challenger's held-out {metric.name} {score:.4f} is {side} smoke_threshold {threshold}"
    if require_approval:
        return "approve", f"{record.reason}; waiting for approval"
    return "deploy", record.reason


def make_plan(
    s3_client: Any,
    sm_client: Any,
    spec: ModelSpec,
    *,
    spec_file: str,
    values: dict[str, Any],
    dag_id: str,
    run_id: str,
    run_type: Any,
    logical_date: datetime.datetime | None,
    event_dates: Sequence[str],
    settings: Settings,
    region: str,
    log: Any,
) -> RunPlan:
    """Check the Params, pick the window, write the channels, build the request: everything before tuning.

    Raises ParamError or PartitionError (bad input: the task fails for good) before anything is created.
    """
    import dataclasses

    from .data import landed_days
    from .overfit import rule_for
    from .prepare import Window, prepare
    from .tuning_config import image_uri, training_definition, tuning_request
    from .warm_start import find_parents

    params = RunParams.from_params(values, spec)
    day, why = holdout_day(
        params.holdout_date,
        logical_date,
        event_dates,
        run_type=run_type,
        landed=lambda: landed_days(s3_client, settings.bucket, spec),
    )
    last = spec.data.last_day
    if why == LOGICAL_DATE and last is not None and day > last:
        raise PastTheData(f"{spec.name}'s data ends on {last} (data.last_day): a run for {day} has nothing to tune")
    log.info("Held-out day %s: %s", day, why)
    window = Window.ending(day, params.training_window_days, params.validation_days, params.holdout_days)
    names = plan_names(spec, dag_id, run_id)
    prepared = prepare(s3_client, spec, bucket=settings.bucket, window=window, run_prefix=names.run_prefix)
    image = image_uri(spec, region)
    output_uri = f"s3://{settings.bucket}/{names.run_prefix}/output"

    def request_for(run: RunParams) -> tuple[dict[str, Any], dict[str, Any]]:
        definition = training_definition(
            spec,
            run,
            image=image,
            role_arn=settings.role_arn,
            channels=prepared.channels,
            output_uri=output_uri,
            code_uri=prepared.code_uri,
            instance_type=settings.instance_type,
        )
        return definition, tuning_request(spec, names.tuning_job, run, definition)

    definition, request = request_for(params)
    if params.warm_start == "auto":
        parents, skipped = find_parents(s3_client, sm_client, settings.bucket, spec.history_prefix, request)
        for warning in skipped:
            log.warning("Warm start: %s", warning)
        params = dataclasses.replace(params, parent_tuning_jobs=tuple(parents))
        definition, request = request_for(params)
        log.info("Warm start (TransferLearning) from %s", parents if parents else "no usable parent: a cold start")
    days = {
        kind: [d.isoformat() for d in getattr(window, f"{kind}_days")] for kind in ("train", "validation", "holdout")
    }
    log.info(
        "%s: image %s, %d jobs; train on %s, validate on %s, hold out %s",
        spec.name,
        image,
        params.jobs(spec),
        _span(days["train"]),
        _span(days["validation"]),
        _span(days["holdout"]),
    )
    return RunPlan(
        model=spec.name,
        spec_file=spec_file,
        dag_id=dag_id,
        run_id=run_id,
        live=is_live(run_type),
        params=params.to_xcom(),
        use_spot=params.use_spot,
        max_jobs=params.jobs(spec),
        intermediate_metrics=params.strategy == "Hyperband" or params.early_stopping == "Auto",
        bucket=settings.bucket,
        role_arn=settings.role_arn,
        endpoint=settings.endpoint or spec.endpoint_name,
        hosting_instance_type=settings.instance_type or spec.deployment.instance_type,
        tuning_job_name=names.tuning_job,
        run_prefix=names.run_prefix,
        model_name=names.model,
        endpoint_config_name=names.endpoint_config,
        checkpoint_uri=f"s3://{settings.bucket}/{spec.key('checkpoints', names.tuning_job)}",
        output_uri=output_uri,
        report_uri=f"s3://{settings.bucket}/{spec.key('reports', names.tuning_job, 'index.html')}",
        history_prefix=spec.history_prefix,
        channels=prepared.channels,
        holdout_uri=prepared.holdout_uri,
        code_uri=prepared.code_uri,
        holdout_date=day.isoformat(),
        holdout_days=days["holdout"],
        train_days=days["train"],
        validation_days=days["validation"],
        rows=prepared.rows,
        image=image,
        entry_point=None if spec.builtin else str(spec.algorithm.code_dir / (spec.algorithm.entry_point or "")),
        definition=definition,
        tuning_request=request,
        overfit_rule=rule_for(spec).to_xcom() if params.stop_on_overfit else None,
    )


def _span(days: list[str]) -> str:
    """ISO days as a log shows them: one date, or "first to last"."""
    return days[0] if days[0] == days[-1] else f"{days[0]} to {days[-1]}"

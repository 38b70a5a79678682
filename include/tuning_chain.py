"""The task chain every tuning DAG runs, built by one factory so the DAGs share it instead of copying it:

    prepare_data → validate_metrics → spot_config → tune → evaluate ┬→ decide_deploy → [approve] → deploy → smoke_test
                                                                     └→ report

Each task calls include/pipeline and little else; AWS is reached through the provider's hooks, whose
`aws_default` connection alone decides whether that is AWS or the local SageMaker. `report` hangs off
`evaluate` rather than `smoke_test` so that a failed deployment still gets its report and still fails the run.
Only `airflow.sdk` and the operators are imported here at module level: DAG files parse fast.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from airflow.sdk import Param, task
from hpo_sagemaker.operators import (
    MetricRegexValidationOperator,
    ReattachingTuningOperator,
    SpotTrainingConfigOperator,
)

from include.pipeline.metrics import TRAINING_SCRIPT_METRIC_DEFINITIONS

ROOT = Path(__file__).resolve().parents[1]
AWS_CONN_ID = "aws_default"
OBJECTIVE_METRIC = "validation:auc"

PARAMS: dict[str, Param] = {
    "strategy": Param("Bayesian", enum=["Bayesian", "Random", "Grid", "Hyperband"], description="Search strategy."),
    "max_jobs": Param(20, type="integer", minimum=1, maximum=500, description="Training jobs (Grid: the grid size)."),
    "max_parallel_jobs": Param(2, type="integer", minimum=1, maximum=100, description="Jobs running at once."),
    "early_stopping": Param("Off", enum=["Off", "Auto"], description="Auto stops jobs worse than the median."),
    "use_spot": Param(False, type="boolean", description="Managed spot training with checkpoints."),
    "warm_start": Param(
        "none", enum=["none", "identical", "transfer", "auto"], description="Seed from parent jobs (auto: found)."
    ),
    "parent_tuning_jobs": Param([], type="array", items={"type": "string"}, description="Up to 5, for warm start."),
    "training_window_days": Param(14, type="integer", minimum=1, maximum=60, description="Days to train on."),
    "validation_days": Param(
        1, type="integer", minimum=1, maximum=7, description="Days before the held-out day to validate (tune) on."
    ),
    "num_round": Param(100, type="integer", minimum=1, maximum=5000, description="Boosting rounds per job."),
    "holdout_date": Param(
        None, type=["null", "string"], format="date", description="Held-out day; empty: the run's logical date."
    ),
    "promotion_margin": Param(
        0.002, type="number", minimum=-1, maximum=1, description="AUC the challenger must gain (negative: may lose)."
    ),
    "min_smoke_auc": Param(0.5, type="number", minimum=0, maximum=1, description="Smoke test AUC floor."),
    "deploy": Param(True, type="boolean", description="Deploy a winning challenger (never in backfills)."),
    "require_approval": Param(False, type="boolean", description="Ask a human before deploying."),
}


def params(**defaults: Any) -> dict[str, Param]:
    """PARAMS with other defaults (a DAG's own budget or warm start); the form and the checks stay the same."""
    unknown = set(defaults) - set(PARAMS)
    if unknown:
        raise KeyError(f"no such Params: {sorted(unknown)}")
    return {
        name: Param(defaults[name], param.description, schema=param.schema) if name in defaults else param
        for name, param in PARAMS.items()
    }


def params_doc(params: dict[str, Param]) -> str:
    """A Markdown table of the Params (default, allowed values, meaning) for a DAG's doc_md, made from the Params
    themselves so that the docs in the UI cannot drift from the form."""

    def allowed(schema: dict[str, Any]) -> str:
        if "enum" in schema:
            return ", ".join(f"`{v}`" for v in schema["enum"])
        if "minimum" in schema or "maximum" in schema:
            return f"{schema.get('minimum', '')} – {schema.get('maximum', '')}"
        if schema.get("format") == "date":
            return "a date (YYYY-MM-DD)" + (" or empty" if "null" in schema.get("type", []) else "")
        kinds = schema.get("type", "")
        return " or ".join(kinds) if isinstance(kinds, list) else str(kinds)

    rows = [
        f"| `{name}` | {'empty' if param.value is None else f'`{param.value}`'} | {allowed(param.schema)} | "
        f"{param.description or ''} |"
        for name, param in params.items()
    ]
    return "\n".join(["", "#### Params", "", "| Param | default | allowed | meaning |", "|---|---|---|---|", *rows, ""])


def settings() -> Any:
    from airflow.sdk import Variable

    from include.pipeline.plan import Settings

    default = Settings()
    return Settings(
        bucket=Variable.get("hpo_bucket", default=default.bucket),
        role_arn=Variable.get("hpo_role_arn", default=default.role_arn),
        endpoint=Variable.get("hpo_endpoint_name", default=default.endpoint),
        instance_type=Variable.get("hpo_instance_type", default=default.instance_type),
    )


def training_code_dir() -> Path:
    """The directory shipped as the jobs' sourcedir.tar.gz; the Variable lets a deployment ship its own."""
    from airflow.sdk import Variable

    return Path(Variable.get("hpo_training_code_dir", default=str(ROOT / "training_scripts")))


def _clients(*services: str) -> list[Any]:
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    return [AwsBaseHook(aws_conn_id=AWS_CONN_ID, client_type=s).get_conn() for s in services]


@task(multiple_outputs=True)
def prepare_data(
    params: Any = None, dag_run: Any = None, logical_date: Any = None, triggering_asset_events: Any = None
) -> dict[str, Any]:
    import dataclasses

    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
    from airflow.sdk.exceptions import AirflowFailException

    from include.pipeline.plan import HISTORY_PREFIX, asset_event_dates, plan_run
    from include.pipeline.prepare import PartitionError, prepare
    from include.pipeline.tuning_config import ParamError, training_definition, tuning_request, xgboost_image
    from include.pipeline.warm_start import find_parents

    log = logging.getLogger(__name__)
    where = settings()
    source_dir = training_code_dir()
    s3, sm = _clients("s3", "sagemaker")
    try:
        plan = plan_run(
            params, dag_id=dag_run.dag_id, run_id=dag_run.run_id, run_type=dag_run.run_type,
            logical_date=logical_date, settings=where,
            event_dates=asset_event_dates(triggering_asset_events, where.bucket),
        )  # fmt: skip
        data = prepare(
            s3, bucket=where.bucket, holdout_day=plan["holdout_day"], run_prefix=plan["run_prefix"],
            training_days=plan["tuning"].training_window_days, source_dir=source_dir,
            validation_days=plan["tuning"].validation_days,
        )  # fmt: skip
    except (ParamError, PartitionError) as error:
        raise AirflowFailException(str(error)) from error  # bad input: a retry would fail the same way
    region = AwsBaseHook(aws_conn_id=AWS_CONN_ID, client_type="sagemaker").conn_region_name
    definition = training_definition(
        image=xgboost_image(region), role_arn=where.role_arn, code_uri=data["code_uri"], channels=data["channels"],
        output_uri=plan["output_uri"], num_round=plan["tuning"].num_round, instance_type=where.instance_type,
        max_runtime=where.max_runtime_seconds,
    )  # fmt: skip
    tuning = plan["tuning"]
    request = tuning_request(plan["tuning_job_name"], tuning, definition)
    if tuning.warm_start == "auto":
        parents, skipped = find_parents(s3, sm, where.bucket, HISTORY_PREFIX, request)
        for warning in skipped:
            log.warning("Warm start: %s", warning)
        tuning = dataclasses.replace(tuning, parent_tuning_jobs=tuple(parents))
        request = tuning_request(plan["tuning_job_name"], tuning, definition)
        log.info("Warm start (TransferLearning) from %s", parents if parents else "no usable parent: a cold start")
    log.info(
        "Training image %s, %d jobs; train on %s, validate on %s",
        definition["AlgorithmSpecification"]["TrainingImage"], tuning.jobs, _span(data["train_days"]),
        _span(data["validation_days"]),
    )  # fmt: skip
    return {
        **data,
        **{k: v for k, v in plan.items() if k not in ("tuning", "holdout_day")},
        "params": dataclasses.asdict(tuning),
        "settings": dataclasses.asdict(where),
        "entry_point": str(source_dir / "train.py"),
        "image": definition["AlgorithmSpecification"]["TrainingImage"],
        "definition": definition,
        "tuning_request": request,
        "use_spot": tuning.use_spot,
        "max_jobs": tuning.jobs,
    }


def _span(days: list[str]) -> str:
    """[first, last] ISO days as a log shows them: one date, or "first to last"."""
    return days[0] if days[0] == days[-1] else f"{days[0]} to {days[-1]}"


@task
def evaluate(prepared: dict[str, Any], tuned: dict[str, Any], dag_run: Any = None) -> dict[str, Any]:
    import tempfile

    from include.pipeline.champion import evaluate as compare
    from include.pipeline.plan import HISTORY_PREFIX
    from include.pipeline.prepare import read_holdout

    (s3,) = _clients("s3")
    with tempfile.TemporaryDirectory(prefix="evaluate-") as workdir:
        record = compare(
            s3, bucket=prepared["settings"]["bucket"], history_prefix=HISTORY_PREFIX,
            challenger={
                "tuning_job_name": tuned["tuning_job_name"], "training_job_name": tuned["best_training_job"],
                "model_artifact": tuned["best_model_artifact"], "code_uri": prepared["code_uri"],
            },
            holdout_rows=read_holdout(s3, prepared["holdout_uri"]), run_id=dag_run.run_id, dag_id=dag_run.dag_id,
            holdout_date=prepared["holdout_date"], live=prepared["live"], margin=prepared["margin"],
            workdir=Path(workdir),
        )  # fmt: skip
    print(f"Evaluation on {record['holdout_date']} ({record['rows']} flights): {record['reason']}")
    return record


@task.branch
def decide_deploy(prepared: dict[str, Any], record: dict[str, Any], params: Any = None) -> str | None:
    from include.pipeline.plan import deploy_decision

    follow, why = deploy_decision(
        record, live=prepared["live"], deploy=bool(params["deploy"]), require_approval=bool(params["require_approval"]),
        min_auc=float(params["min_smoke_auc"]),
    )  # fmt: skip
    print(f"{'Next: ' + follow if follow else 'Not deploying'}: {why}")
    return follow


@task(trigger_rule="none_failed_min_one_success")
def deploy(prepared: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    from include.pipeline.deploy import deploy_model

    (sm,) = _clients("sagemaker")
    where = prepared["settings"]
    deployed = deploy_model(
        sm, endpoint=where["endpoint"], model_name=prepared["model_name"], config_name=prepared["endpoint_config_name"],
        image=prepared["image"], model_artifact=record["model_artifact"], code_uri=record["code_uri"],
        role_arn=where["role_arn"], instance_type=where["instance_type"], poll=2,
        tags=[{"Key": "hpo:tuning-job", "Value": record["tuning_job_name"]}],
    )  # fmt: skip
    print(f"Endpoint {deployed['endpoint']} {deployed['action']} on {deployed['endpoint_config']}")
    return {**deployed, "record_key": record["record_key"], "challenger_auc": record["challenger_auc"]}


@task
def smoke_test(prepared: dict[str, Any], deployed: dict[str, Any], params: Any = None) -> dict[str, Any]:
    from airflow.sdk.exceptions import AirflowFailException
    from botocore.exceptions import ClientError

    from include.pipeline.champion import update_record
    from include.pipeline.data import LABEL_COLUMN, to_feature_csv
    from include.pipeline.deploy import DeploymentError, SmokeTestError, check_endpoint, retire, rollback
    from include.pipeline.prepare import read_holdout

    s3, sm, runtime = _clients("s3", "sagemaker", "sagemaker-runtime")
    bucket = prepared["settings"]["bucket"]
    rows = read_holdout(s3, prepared["holdout_uri"])  # the rows evaluate scored, so the AUCs must agree
    try:
        scored = check_endpoint(
            runtime, deployed["endpoint"], to_feature_csv(rows), rows[LABEL_COLUMN].tolist(),
            min_auc=params["min_smoke_auc"], expected_auc=deployed["challenger_auc"],
        )  # fmt: skip
    except (SmokeTestError, DeploymentError, ClientError) as error:
        done = rollback(sm, deployed, poll=2)
        update_record(s3, bucket, deployed["record_key"], deployed=False, rolled_back=True, rollback_reason=str(error))
        # Failed for good: a retry would only test the model rolled back to.
        raise AirflowFailException(f"smoke test failed ({error}); {done}") from error
    retired = retire(sm, deployed)
    update_record(s3, bucket, deployed["record_key"], deployed=True, endpoint=deployed["endpoint"],
                  endpoint_config=deployed["endpoint_config"])  # fmt: skip
    print(f"Smoke test passed: AUC {scored['auc']:.4f} on {scored['rows']} held-out rows; retired {retired}")
    return scored


@task
def report(prepared: dict[str, Any], tuned: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    from include.pipeline.report import build_report, collect_parents, collect_training_jobs, publish_report
    from include.pipeline.s3uri import split_object_uri

    s3, sm = _clients("s3", "sagemaker")
    jobs = collect_training_jobs(sm, tuned["tuning_job_name"])
    built = build_report(tuned, jobs, record, parents=collect_parents(sm, prepared["tuning_request"]))
    bucket, key = split_object_uri(tuned["report_uri"])  # the .../index.html the tune task's link points at
    published = publish_report(s3, built, bucket, key.rsplit("/", 1)[0])
    print(f"Report: {published['report_uri']} ({built.totals})")
    return {"report_uri": published["report_uri"], "totals": built.totals}


def tuning_chain() -> None:
    """Instantiate the chain in the current DAG (call inside a @dag function or `with DAG(...)`)."""
    from airflow.providers.standard.operators.hitl import ApprovalOperator

    prepared = prepare_data()
    metrics = MetricRegexValidationOperator(
        task_id="validate_metrics",
        metric_definitions=TRAINING_SCRIPT_METRIC_DEFINITIONS,
        objective_metric=OBJECTIVE_METRIC,
        intermediate=True,  # train.py reports every round, which Hyperband and Auto early stopping need
        entry_point=prepared["entry_point"],
        entry_point_args=["--num_round", "5"],
        sample_channels=prepared["channels"],
    )
    spot = SpotTrainingConfigOperator(
        task_id="spot_config",
        definition=prepared["definition"],
        use_spot=prepared["use_spot"],
        checkpoint_uri=prepared["checkpoint_uri"],
        max_jobs=prepared["max_jobs"],
    )
    tune = ReattachingTuningOperator(
        task_id="tune",
        config=prepared["tuning_request"],
        training_job_definition=spot.output,
        report_uri=prepared["report_uri"],
        aws_conn_id=AWS_CONN_ID,
        check_interval="{{ var.value.get('hpo_poll_seconds', 10) }}",
    )
    metrics >> spot
    record = evaluate(prepared, tune.output)
    approve = ApprovalOperator(
        task_id="approve",
        subject="Deploy the new flight-delay model?",
        body="{{ ti.xcom_pull(task_ids='evaluate')['reason'] }}",
    )
    deployed = deploy(prepared, record)
    decide_deploy(prepared, record) >> [approve, deployed]
    approve >> deployed
    smoke_test(prepared, deployed)
    report(prepared, tune.output, record)

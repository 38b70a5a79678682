"""The task chain every tuning DAG runs, for any model spec, built by one factory so the DAGs share it:

    prepare_data → validate_metrics → spot_config → tune → evaluate → decide_deploy → [approve] → deploy → smoke_test
                                                  ⤷ watch_overfit (beside tune)                             ⤷ report

Each task calls include/pipeline and little else; AWS is reached through the provider's hooks, whose
`aws_default` connection alone decides whether that is AWS or the local SageMaker. `prepare_data` loads the
model's spec and hands the others a `RunPlan` (XCom); they read the spec again from the plan's file.
`watch_overfit` runs while the tuning job does and stops its overfitting training jobs (the stop_on_overfit
Param; it skips when that is off). `report`
comes last so that it states the run's final outcome (deployed, kept or rolled back). It is a teardown task:
it runs once everything before it is done, whether deploy and smoke_test succeeded, failed or were skipped, and
Airflow leaves teardowns out of the run's state, so a failed smoke test still fails the run although its
report succeeds (and a failed report does not fail a run whose model is serving; its task shows the failure).
Only `airflow.sdk` and the operators are imported here at module level: DAG files parse fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import task
from hpo_sagemaker.operators import (
    MetricRegexValidationOperator,
    OverfitStopSensor,
    ReattachingTuningOperator,
    SpotTrainingConfigOperator,
)

from include.pipeline.spec import XGBOOST_METRICS

if TYPE_CHECKING:
    from include.pipeline.plan import RunPlan, Settings
    from include.pipeline.spec import ModelSpec

AWS_CONN_ID = "aws_default"


def settings(spec: ModelSpec) -> Settings:
    """The deployment's Airflow Variables: bucket and role for every model, an endpoint name per model."""
    from airflow.sdk import Variable

    from include.pipeline.plan import Settings

    default = Settings()
    return Settings(
        bucket=Variable.get("hpo_bucket", default=default.bucket),
        role_arn=Variable.get("hpo_role_arn", default=default.role_arn),
        instance_type=Variable.get("hpo_instance_type", default=None),
        endpoint=Variable.get(f"{spec.name}_endpoint_name", default=None),
    )


def _clients(*services: str) -> list[Any]:
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    return [AwsBaseHook(aws_conn_id=AWS_CONN_ID, client_type=s).get_conn() for s in services]


def _plan(prepared: dict[str, Any]) -> tuple[RunPlan, ModelSpec]:
    from include.pipeline.plan import RunPlan
    from include.pipeline.spec import load_spec

    plan = RunPlan.from_xcom(prepared)
    return plan, load_spec(plan.spec_file)


@task(multiple_outputs=True)
def prepare_data(
    spec_file: str,
    params: Any = None,
    dag_run: Any = None,
    logical_date: Any = None,
    triggering_asset_events: Any = None,
) -> dict[str, Any]:
    import logging

    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from include.pipeline.params import ParamError
    from include.pipeline.plan import PastTheData, asset_event_dates, make_plan
    from include.pipeline.prepare import PartitionError
    from include.pipeline.spec import load_spec

    spec = load_spec(spec_file)
    where = settings(spec)
    s3, sm = _clients("s3", "sagemaker")
    try:
        plan = make_plan(
            s3,
            sm,
            spec,
            spec_file=spec_file,
            values=dict(params or {}),
            dag_id=dag_run.dag_id,
            run_id=dag_run.run_id,
            run_type=dag_run.run_type,
            logical_date=logical_date,
            event_dates=asset_event_dates(triggering_asset_events, where.bucket),
            settings=where,
            region=AwsBaseHook(aws_conn_id=AWS_CONN_ID, client_type="sagemaker").conn_region_name,
            log=logging.getLogger(__name__),
        )
    except (ParamError, PartitionError) as error:
        raise AirflowFailException(str(error)) from error  # bad input: a retry would fail the same way
    except PastTheData as error:
        raise AirflowSkipException(str(error)) from error
    return plan.to_xcom()


@task
def evaluate(prepared: dict[str, Any], tuned: dict[str, Any]) -> dict[str, Any]:
    import tempfile
    from pathlib import Path

    from include.pipeline.champion import evaluate as compare
    from include.pipeline.prepare import read_holdout

    plan, spec = _plan(prepared)
    (s3,) = _clients("s3")
    with tempfile.TemporaryDirectory(prefix="evaluate-") as workdir:
        record = compare(
            s3,
            spec,
            bucket=plan.bucket,
            challenger={
                "tuning_job_name": tuned["tuning_job_name"],
                "training_job_name": tuned["best_training_job"],
                "model_artifact": tuned["best_model_artifact"],
                "code_uri": plan.code_uri,
            },
            holdout_rows=read_holdout(s3, plan.holdout_uri),
            run_id=plan.run_id,
            dag_id=plan.dag_id,
            holdout_date=plan.holdout_date,
            live=plan.live,
            margin=plan.run_params.promotion_margin,
            workdir=Path(workdir),
        )
    print(f"Evaluation on {_days(plan.holdout_days)} ({record.rows} rows): {record.reason}")
    return record.to_xcom()


def _days(days: list[str]) -> str:
    return days[0] if len(days) == 1 else f"{days[0]} to {days[-1]}"


@task.branch
def decide_deploy(prepared: dict[str, Any], record: dict[str, Any]) -> str | None:
    from include.pipeline.champion import Evaluation
    from include.pipeline.plan import RunPlan

    follow, why = RunPlan.from_xcom(prepared).deploy_decision(Evaluation.from_xcom(record))
    print(f"{'Next: ' + follow if follow else 'Not deploying'}: {why}")
    return follow


@task(trigger_rule="none_failed_min_one_success")
def deploy(prepared: dict[str, Any], evaluated: dict[str, Any]) -> dict[str, Any]:
    import dataclasses

    from include.pipeline.champion import Evaluation
    from include.pipeline.deploy import deploy_model, serving_environment

    plan, spec = _plan(prepared)
    record = Evaluation.from_xcom(evaluated)
    (sm,) = _clients("sagemaker")
    deployed = deploy_model(
        sm,
        endpoint=plan.endpoint,
        model_name=plan.model_name,
        config_name=plan.endpoint_config_name,
        image=plan.image,
        model_artifact=record.model_artifact,
        environment=serving_environment(record.code_uri, spec.algorithm.entry_point),
        role_arn=plan.role_arn,
        instance_type=plan.hosting_instance_type,
        poll=2,
        tags=[{"Key": "hpo:tuning-job", "Value": record.tuning_job_name}, {"Key": "hpo:model", "Value": spec.name}],
    )
    print(f"Endpoint {deployed.endpoint} {deployed.action} on {deployed.endpoint_config}")
    return dataclasses.replace(deployed, record_key=record.record_key, expected_score=record.challenger_score).to_xcom()


@task
def smoke_test(prepared: dict[str, Any], deployment: dict[str, Any]) -> dict[str, Any]:
    from airflow.sdk.exceptions import AirflowFailException
    from botocore.exceptions import ClientError

    from include.pipeline.champion import update_record
    from include.pipeline.data import csv_rows, encode
    from include.pipeline.deploy import (
        Deployment,
        DeploymentError,
        SmokeTestError,
        check_endpoint,
        retire,
        rollback,
    )
    from include.pipeline.prepare import read_holdout

    plan, spec = _plan(prepared)
    deployed = Deployment.from_xcom(deployment)
    record_key = deployed.record_key
    if record_key is None:  # deploy ties every deployment to its champion-history record
        raise AirflowFailException(f"deployment of {deployed.endpoint} names no champion-history record")
    s3, sm, runtime = _clients("s3", "sagemaker", "sagemaker-runtime")
    rows = read_holdout(s3, plan.holdout_uri)  # the rows evaluate scored, so the scores must agree
    metric = spec.evaluation.metric
    labels, features = encode(spec, rows)
    try:
        scored = check_endpoint(
            runtime,
            deployed.endpoint,
            csv_rows(features),
            labels.tolist(),
            metric,
            plan.run_params.smoke_threshold,
            expected=deployed.expected_score,
        )
    except (SmokeTestError, DeploymentError, ClientError) as error:
        done = rollback(sm, deployed, poll=2)
        update_record(s3, plan.bucket, record_key, deployed=False, rolled_back=True, rollback_reason=str(error))
        # Failed for good: a retry would only test the model rolled back to.
        raise AirflowFailException(f"smoke test failed ({error}); {done}") from error
    retired = retire(sm, deployed)
    update_record(
        s3,
        plan.bucket,
        record_key,
        deployed=True,
        endpoint=deployed.endpoint,
        endpoint_config=deployed.endpoint_config,
    )
    print(f"Smoke test passed: {metric} {scored['score']:.4f} on {scored['rows']} held-out rows; retired {retired}")
    return scored


@task
def report(
    prepared: dict[str, Any] | None,
    tuned: dict[str, Any] | None,
    record: dict[str, Any] | None,
    deployment: dict[str, Any] | None,
    smoke: dict[str, Any] | None,
    overfit: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The run's report and its model's history page; an argument is None when its task did not finish (or, for
    `overfit`, skipped: stop_on_overfit off)."""
    from airflow.sdk.exceptions import AirflowSkipException

    from include.pipeline.champion import Evaluation, read_history, read_record
    from include.pipeline.report import (
        MAX_PRESIGN_SECONDS as MAX_PRESIGN,
    )
    from include.pipeline.report import (
        build_report,
        collect_objective,
        collect_parents,
        collect_ranges,
        collect_training_jobs,
        publish_report,
        serving_outcome,
    )
    from include.pipeline.report_history import (
        build_history,
        history_prefix,
        publish_history,
    )
    from include.pipeline.s3uri import split_object_uri

    if not prepared or not tuned:
        raise AirflowSkipException("the tuning job did not finish: there is nothing to report")
    plan, spec = _plan(prepared)
    s3, sm, logs = _clients("s3", "sagemaker", "logs")
    # The record as deploy and smoke_test left it (they mark it deployed or rolled back), not evaluate's XCom.
    final = read_record(s3, plan.bucket, record["record_key"]) if record else None
    because = None
    if final is not None:
        follow, why = plan.deploy_decision(Evaluation.from_xcom(final))
        because = None if follow else why
    outcome = serving_outcome(final, deployment=deployment, smoke=smoke, not_deployed_because=because)

    name = tuned["tuning_job_name"]
    bucket, key = split_object_uri(tuned["report_uri"])  # the .../index.html the tune task's link points at
    folder = key.rsplit("/", 1)[0] if "/" in key else ""
    reports_root = folder.rsplit("/", 1)[0] if "/" in folder else ""

    # A presigned link opens one object: links between the pages are presigned too (for seven days; the
    # history page is rebuilt, with fresh links, at every run).
    def presigned(key: str) -> str:
        return s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=MAX_PRESIGN)

    history_folder = history_prefix(reports_root, spec.name)
    history = build_history(
        spec.name,
        read_history(s3, plan.bucket, plan.history_prefix),
        report_link=lambda job: presigned("/".join(p for p in (reports_root, job, "index.html") if p)),
    )
    history_uri = publish_history(s3, history, bucket, history_folder)
    built = build_report(
        tuned,
        collect_training_jobs(sm, name, logs_client=logs),
        final,
        parents=collect_parents(sm, prepared["tuning_request"]),
        outcome=outcome,
        ranges=collect_ranges(sm, name),
        champion_level=collect_objective(sm, (final or {}).get("champion_training_job"), tuned.get("objective_metric")),
        history_link=presigned(f"{history_folder}/index.html"),
        overfit=overfit,
    )
    published = publish_report(s3, built, bucket, folder)
    print(f"Report: {published['report_uri']}: {outcome.headline} History: {history_uri}")
    return {
        "report_uri": published["report_uri"],
        "history_uri": history_uri,
        "outcome": outcome.state,
        "totals": built.totals,
    }


def _check_arguments(spec: ModelSpec) -> list[str]:
    """The metric check's quick run: the spec's check_hyperparameters as the script's --name value arguments."""
    return [text for name, value in spec.algorithm.check_hyperparameters.items() for text in (f"--{name}", str(value))]


def tuning_chain(spec: ModelSpec, spec_file: str) -> None:
    """Instantiate the chain for one model in the current DAG (call inside `with DAG(...)`)."""
    from airflow.providers.standard.operators.hitl import ApprovalOperator

    prepared = prepare_data(spec_file=spec_file)
    check: dict[str, Any]
    if spec.builtin:
        # No script to run: the objective must be a metric the algorithm emits (the spec checked which).
        check = {
            "sample_log": [],
            "builtin_metrics": [f"{c}:{m}" for c in ("train", "validation") for m in XGBOOST_METRICS],
        }
    else:
        check = {
            "entry_point": prepared["entry_point"],
            "entry_point_args": _check_arguments(spec),
            "sample_channels": prepared["channels"],
        }
    metrics = MetricRegexValidationOperator(
        task_id="validate_metrics",
        metric_definitions=spec.metric_definitions,
        objective_metric=spec.objective.metric,
        intermediate=prepared["intermediate_metrics"],
        **check,
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
    watch = OverfitStopSensor(
        task_id="watch_overfit",
        tuning_job_name=prepared["tuning_job_name"],
        rule=prepared["overfit_rule"],
        aws_conn_id=AWS_CONN_ID,
        poll_seconds="{{ var.value.get('hpo_poll_seconds', 10) }}",
    )
    spot >> watch
    record = evaluate(prepared, tune.output)
    approve = ApprovalOperator(
        task_id="approve",
        subject=f"Deploy the new {spec.name} model?",
        body="{{ ti.xcom_pull(task_ids='evaluate')['reason'] }}",
    )
    deployed = deploy(prepared, record)
    decide_deploy(prepared, record) >> [approve, deployed]
    approve >> deployed
    smoked = smoke_test(prepared, deployed)
    # Last, and whatever became of the deployment: see the module docstring.
    report(prepared, tune.output, record, deployed, smoked, watch.output).as_teardown()

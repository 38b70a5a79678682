"""A model's DAGs under a real scheduler (api-server + scheduler, LocalExecutor): a backfill, a run that waits for
a human's approval, and the asset-triggered warm-started retune when new data lands.

The model is a copy of the flight spec under its own name (so its DAGs, job names, history and Asset are its own)
whose retune tunes 4 jobs instead of the flight model's 10: the spec's `on_new_data` section sets that budget.
A module of its own, apart from test_hpo_nightly's dag.test() runs, so the two run side by side.
"""

from __future__ import annotations

import datetime
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.airflow_processes import Airflow, failed_task_logs, finished_runs, non_loopback_listeners, triggered_run
from tests.specs import FLIGHT_SPEC_FILE, SMALL_RUN, write_dag_file

BUCKET = "hpo-scheduled-tests"
ENDPOINT = "scheduled-tests"
NAME = "flight_scheduled"
NIGHTLY, RETUNE, INGEST = f"{NAME}_nightly", f"{NAME}_on_new_data", f"{NAME}_ingest"
RETUNE_JOBS = 4


@pytest.fixture(scope="module")
def spec_file(model_dags_folder: Path) -> Path:
    copy = yaml.safe_load(FLIGHT_SPEC_FILE.read_text())
    for legacy in ("dag_ids", "job_prefix", "storage_prefix"):  # the flight model's own names
        copy.pop(legacy)
    copy["name"] = NAME
    copy["data"]["asset"] = None  # an Asset of its own, so the flight model's retune is not triggered
    copy["on_new_data"]["max_jobs"] = RETUNE_JOBS  # the flight model's retune: 10 jobs, 7 validation days
    folder = model_dags_folder / NAME
    folder.mkdir()
    path = folder / f"{NAME}.yaml"
    path.write_text(yaml.safe_dump(copy))
    write_dag_file(model_dags_folder, path)
    return path


@pytest.fixture(scope="module", autouse=True)
def variables():
    # Module-wide, so that the scheduler the module starts sees them too.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_VAR_HPO_POLL_SECONDS", "1")
        patch.setenv("AIRFLOW_VAR_HPO_BUCKET", BUCKET)
        patch.setenv(f"AIRFLOW_VAR_{NAME.upper()}_ENDPOINT_NAME", ENDPOINT)
        yield


@pytest.fixture(scope="module")
def spec(spec_file: Path) -> Any:
    from include.pipeline.spec import load_spec

    return load_spec(spec_file)


@pytest.fixture(scope="module")
def champion(airflow_db, s3, sm, spec, model_dags_folder: Path) -> dict[str, Any]:
    """The model's first nightly run (dag.test): it tunes, wins against no champion and deploys: the live champion
    the tests below start from."""
    from airflow.dag_processing.dagbag import DagBag

    from include.pipeline.ingest import land

    # 21 days: the retune trains on 14 and validates on 7 before the day the ingest DAG lands (01-22).
    land(s3, BUCKET, spec, datetime.date(2013, 1, 1), datetime.date(2013, 1, 21))
    dag = DagBag(dag_folder=str(model_dags_folder / f"{NAME}.py")).dags[NIGHTLY]
    dagrun = dag.test(logical_date=None, run_conf={**SMALL_RUN, "holdout_date": "2013-01-12"})
    assert dagrun.state == "success"
    [record] = [r for r in history(s3, spec) if r["run_id"] == dagrun.run_id]
    assert record["live"] is True and sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointStatus"] == "InService"
    return record


@pytest.fixture(scope="module")
def airflow(champion, tmp_path_factory):
    running = Airflow(tmp_path_factory.mktemp("scheduler"))
    running.cli("dags", "reserialize", "--bundle-name", "test-models")  # the scheduler runs no DAG processor
    running.start("api-server", "scheduler")
    # The scheduler starts no run of a paused DAG, backfills included. Unpausing schedules one run, for today,
    # which skips: the data ends on 2013-12-31.
    running.cli("dags", "unpause", NIGHTLY)
    yield running
    running.stop()


def history(s3: Any, spec: Any) -> list[dict[str, Any]]:
    from include.pipeline.champion import read_history

    return read_history(s3, BUCKET, spec.history_prefix)


@pytest.mark.timeout(600)
def test_a_backfill_records_every_day_and_never_touches_the_endpoint(airflow, sm, s3, spec):
    before = sm.describe_endpoint(EndpointName=ENDPOINT)
    dates = ["--from-date", "2013-01-13", "--to-date", "2013-01-14", "--dag-run-conf", json.dumps(SMALL_RUN)]
    airflow.cli("backfill", "create", "--dag-id", NIGHTLY, *dates)
    listening, beyond = non_loopback_listeners(airflow.pids())
    assert listening and not beyond, beyond  # the api-server and scheduler listen on loopback only
    runs = finished_runs("backfill", 2, dag_id=NIGHTLY)
    assert {r.state for r in runs} == {"success"}
    for dagrun in runs:
        states = {ti.task_id: ti.state for ti in dagrun.get_task_instances()}
        assert states["tune"] == "success" and states["evaluate"] == "success" and states["report"] == "success"
        assert states["deploy"] == "skipped" and states["smoke_test"] == "skipped"
    run_ids = {r.run_id for r in runs}
    records = [r for r in history(s3, spec) if r["run_id"] in run_ids]
    assert sorted(r["holdout_date"] for r in records) == ["2013-01-13", "2013-01-14"]
    assert all(r["live"] is False and r["deployed"] is False for r in records)
    after = sm.describe_endpoint(EndpointName=ENDPOINT)
    assert after["EndpointConfigName"] == before["EndpointConfigName"]
    assert after["LastModifiedTime"] == before["LastModifiedTime"]


@pytest.mark.timeout(600)
def test_require_approval_waits_for_a_human_and_deploys_when_approved(airflow, sm):
    from airflow.models.taskinstance import TaskInstance

    from harness.local_sagemaker import wait_until

    before = sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"]
    conf = {**SMALL_RUN, "holdout_date": "2013-01-15", "promotion_margin": -1.0, "require_approval": True}
    airflow.cli("dags", "trigger", NIGHTLY, "--conf", json.dumps(conf))
    dagrun = triggered_run(NIGHTLY)
    wait_until(
        lambda: TaskInstance.get_task_instance(NIGHTLY, dagrun.run_id, "approve", -1),
        lambda ti: ti is not None and ti.state in ("awaiting_input", "deferred"),
        "the approval task waiting for input",
        timeout=240,
        interval=1,
    )
    assert sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"] == before  # nothing before approval
    # People take minutes to answer. Airflow 3.3 races an answer given before the scheduler has seen the parked
    # try's worker exit: it then counts that exit against the resumed try, which is retried and asks again. So
    # answer once the scheduler has logged the exit (a fixed sleep was not enough on a busy CI machine).
    wait_until(
        lambda: (airflow.logs / "scheduler.log").read_text(errors="replace"),
        lambda log: (
            re.search(
                rf"TaskInstance Finished: dag_id={NIGHTLY}, task_id=approve, run_id={re.escape(dagrun.run_id)},"
                r".*state=awaiting_input",
                log,
            )
            is not None
        ),
        "the scheduler seeing the parked approval task's worker exit",
        timeout=60,
        interval=1,
    )
    answer = airflow.call(
        "PATCH",
        f"/dags/{NIGHTLY}/dagRuns/{dagrun.run_id}/taskInstances/approve/-1/hitlDetails",
        {"chosen_options": ["Approve"]},
        timeout=30,
    )
    assert answer["chosen_options"] == ["Approve"]

    [dagrun] = finished_runs("manual", 1, run_id=dagrun.run_id, dag_id=NIGHTLY)
    states = {ti.task_id: ti.state for ti in dagrun.get_task_instances()}
    assert dagrun.state == "success", states
    assert states["approve"] == "success" and states["deploy"] == "success" and states["smoke_test"] == "success"
    assert sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"] != before


@pytest.mark.timeout(600)
def test_new_data_triggers_a_warm_started_retune_from_the_champion_history(airflow, sm, s3, spec):
    from airflow.models.dagrun import DagRun

    from harness.local_sagemaker import wait_until
    from include.pipeline.champion import champion_for

    before = history(s3, spec)
    champion = champion_for(before, "", live=True)
    assert champion is not None  # the champion fixture deployed one
    for dag_id in (INGEST, RETUNE):
        airflow.unpause(dag_id)  # the UI's toggle; the backfill above unpaused with the README's CLI command
    # The ingest DAG lands 2013-01-22 and publishes the model's Asset; the scheduler starts the retune for it.
    airflow.trigger(INGEST, logical_date="2013-01-22T00:00:00+00:00")
    [dagrun] = wait_until(
        lambda: DagRun.find(dag_id=RETUNE),
        lambda runs: len(runs) == 1 and runs[0].state in ("success", "failed"),
        "the asset-triggered retune run",
        timeout=480,
        interval=2,
    )
    assert dagrun.state == "success", failed_task_logs(dagrun)
    assert getattr(dagrun.run_type, "value", dagrun.run_type) == "asset_triggered"

    [record] = [r for r in history(s3, spec) if r["run_id"] == dagrun.run_id]
    assert record["holdout_date"] == "2013-01-22"  # from the asset event, the run has no Params naming it
    prepared = airflow.call(
        "GET", f"/dags/{RETUNE}/dagRuns/{dagrun.run_id}/taskInstances/prepare_data/xcomEntries/return_value"
    )
    # The retune's defaults: the spec's 14 training days, then its on_new_data's 7 validation days.
    validated, trained = prepared["value"]["validation_days"], prepared["value"]["train_days"]
    assert (validated[0], validated[-1], len(validated)) == ("2013-01-15", "2013-01-21", 7)
    assert (trained[0], trained[-1], len(trained)) == ("2013-01-01", "2013-01-14", 14)
    child = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=record["tuning_job_name"])
    # The spec's on_new_data section, not the nightly budget (tuning: 20 jobs).
    assert child["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"] == RETUNE_JOBS
    warm = child["WarmStartConfig"]
    parents = [p["HyperParameterTuningJobName"] for p in warm["ParentHyperParameterTuningJobs"]]
    assert warm["WarmStartType"] == "TransferLearning"
    # The champion's tuning job first, then the newest runs of the history (all of them still exist here).
    newest = sorted(before, key=lambda r: r["evaluated_at"], reverse=True)
    expected = list(dict.fromkeys([champion["tuning_job_name"], *(r["tuning_job_name"] for r in newest)]))[:5]
    assert len(expected) >= 3 and parents == expected  # the champion, the backfill's days, the approved run

    summary_key = spec.key("reports", record["tuning_job_name"], "summary.json")
    summary = json.loads(s3.get_object(Bucket=BUCKET, Key=summary_key)["Body"].read())
    bests = [
        sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=p)["BestTrainingJob"][
            "FinalHyperParameterTuningJobObjectiveMetric"
        ]["Value"]
        for p in parents
    ]
    assert summary["totals"]["parents_best"] == pytest.approx(max(bests))


def test_no_task_log_holds_the_connections_secret(airflow):
    """Every task the scheduler ran above had the aws_default connection's secret key; none of their logs may show
    it. (dag.test() writes no task log files: the scheduler's tasks are the ones logged.)"""
    from tests.conftest import CONNECTION_SECRET

    logs = [path for path in (Path(os.environ["AIRFLOW_HOME"]) / "logs").rglob("*.log") if path.is_file()]
    texts = {path: path.read_text(errors="replace") for path in logs}
    assert sum("Tuning job" in text or "tuning job" in text for text in texts.values()) >= 3  # real task logs
    leaked = [str(path) for path, text in texts.items() if CONNECTION_SECRET in text]
    assert not leaked, leaked

"""hpo_nightly end to end with dag.test() against the local SageMaker: small data, a few quick jobs. The same DAGs
under a real scheduler (backfill, approval, the asset-triggered retune): test_hpo_scheduled.py."""

from __future__ import annotations

import datetime
import json
import os
import re
import subprocess
import sys
import urllib.request
from typing import Any

import pytest

from harness.local_sagemaker import ROOT
from tests.specs import FLIGHT, FLIGHT_SPEC_FILE, SMALL_RUN, write_dag_file

# A bucket and endpoint of their own (the DAG reads them from Airflow Variables): the demo test shares the server.
BUCKET = "hpo-nightly-tests"
ENDPOINT = "nightly-tests"


@pytest.fixture(scope="module")
def nightly(airflow_db, s3, local_sagemaker):
    from airflow.dag_processing.dagbag import DagBag

    from include.pipeline.ingest import land

    # 21 days, so that a run validating on 01-22 finds every partition but that one (the missing-partition test).
    land(s3, BUCKET, FLIGHT, datetime.date(2013, 1, 1), datetime.date(2013, 1, 21))
    return DagBag(dag_folder=str(ROOT / "dags" / "flight_delay.py")).dags["hpo_nightly"]


@pytest.fixture(scope="module", autouse=True)
def variables():
    # Module-wide: every dag.test() run of the module reads them.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_VAR_HPO_POLL_SECONDS", "1")
        patch.setenv("AIRFLOW_VAR_HPO_BUCKET", BUCKET)
        patch.setenv("AIRFLOW_VAR_FLIGHT_DELAY_ENDPOINT_NAME", ENDPOINT)
        yield


def run(dag: Any, **conf: Any) -> tuple[Any, dict[str, str]]:
    dagrun = dag.test(logical_date=None, run_conf={**SMALL_RUN, **conf})
    return dagrun, {ti.task_id: ti.state for ti in dagrun.get_task_instances()}


def failures(out: str) -> list[str]:
    """The exception lines of a dag.test() log, for assertion messages."""
    return [line for line in out.splitlines() if re.match(r"^[\w.]+(Error|Exception): ", line)]


def history(s3: Any) -> list[dict[str, Any]]:
    from include.pipeline.champion import read_history

    return read_history(s3, BUCKET, FLIGHT.history_prefix)


def report_outcome(dagrun: Any, s3: Any) -> str:
    """The outcome the run's report states, after following its presigned link to the model's history page (as a
    browser would: a presigned link opens one object) and the history page's link back to this run's report."""
    import html
    import urllib.request

    done = dagrun.get_task_instance("report").xcom_pull(task_ids="report")
    bucket, key = done["report_uri"][len("s3://") :].split("/", 1)
    page = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    assert "<img src='data:image/png;base64," in page and "<img src='http" not in page  # self-contained

    def follow(pattern: str, text: str) -> str:
        link = html.unescape(re.search(pattern, text).group(1))
        with urllib.request.urlopen(link, timeout=10) as answer:  # noqa: S310 - a presigned loopback URL
            return answer.read().decode()

    history_page = follow(r"href='([^']+)'>This model's history", page)
    assert dagrun.run_id in history_page
    name = key.rsplit("/", 2)[-2]  # reports/<tuning job>/index.html
    assert follow(rf"href='([^']+)'>{re.escape(name)}<", history_page) == page
    return done["outcome"]


@pytest.mark.parametrize(
    ("conf", "said"),
    [
        (
            {"strategy": "Hyperband", "early_stopping": "Auto"},
            "Param early_stopping must be Off with strategy Hyperband",
        ),
        # The flight spec declares no overfit_rule (AWS's Overfit rule would stop every job at round 1 here).
        ({"stop_on_overfit": True}, "Param stop_on_overfit needs an overfit_rule in flight_delay's spec"),
    ],
)
def test_invalid_params_fail_the_first_task_before_anything_is_created(nightly, sm, capfd, conf, said):
    before = len(sm.list_hyper_parameter_tuning_jobs(MaxResults=100)["HyperParameterTuningJobSummaries"])
    dagrun, states = run(nightly, holdout_date="2013-01-10", **conf)
    assert dagrun.state == "failed"
    assert states["prepare_data"] == "failed" and states["tune"] == "upstream_failed"
    assert said in capfd.readouterr().out
    assert len(sm.list_hyper_parameter_tuning_jobs(MaxResults=100)["HyperParameterTuningJobSummaries"]) == before


def test_a_missing_partition_fails_naming_its_date(nightly, capfd):
    dagrun, states = run(nightly, holdout_date="2013-01-23")  # validates on 01-22, not landed
    assert states["prepare_data"] == "failed" and states["tune"] == "upstream_failed"
    assert f"partition 2013-01-22 (s3://{BUCKET}/raw/flights/date=2013-01-22/flights.parquet) is missing" in (
        capfd.readouterr().out
    )


def test_the_first_run_tunes_evaluates_deploys_and_reports(nightly, sm, s3, capfd):
    from hpo_sagemaker.links import TuningReportLink

    dagrun, states = run(nightly, holdout_date="2013-01-12", random_seed=42)
    out = capfd.readouterr().out
    assert dagrun.state == "success", failures(out)
    assert states == {
        "prepare_data": "success",
        "validate_metrics": "success",
        "spot_config": "success",
        "tune": "success",
        "watch_overfit": "skipped",  # stop_on_overfit is off
        "evaluate": "success",
        "decide_deploy": "success",
        "approve": "skipped",
        "deploy": "success",
        "smoke_test": "success",
        "report": "success",
    }
    assert re.search(r"\d/3 jobs done, \d running", out)  # the tune task's progress lines
    assert "no champion yet" in out

    tune = dagrun.get_task_instance("tune")
    summary = tune.xcom_pull(task_ids="tune")
    described = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=summary["tuning_job_name"])
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["HyperParameterTuningJobConfig"]["RandomSeed"] == 42  # the Param, as SageMaker's RandomSeed
    endpoint = sm.describe_endpoint(EndpointName=ENDPOINT)
    assert endpoint["EndpointStatus"] == "InService"
    deployed = dagrun.get_task_instance("deploy").xcom_pull(task_ids="deploy")
    assert endpoint["EndpointConfigName"] == deployed["endpoint_config"] and deployed["action"] == "created"
    [record] = [r for r in history(s3) if r["run_id"] == dagrun.run_id]
    assert record["deployed"] is True and record["winner"] == "challenger" and record["live"] is True
    assert record["training_job_name"] == summary["best_training_job"]

    # Airflow 3 resolves extra links in the worker when the task ends and keeps the URL in XCom for the UI.
    url = tune.xcom_pull(task_ids="tune", key=TuningReportLink().xcom_key)
    assert url and url == tune.xcom_pull(task_ids="tune", key="report_url")
    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 (a presigned http URL of the test)
        page = answer.read().decode()
    assert summary["tuning_job_name"] in page
    # The report runs after the smoke test, so it states the final outcome.
    assert f"Deployed: the challenger {record['training_job_name']} now serves on {ENDPOINT}." in page
    assert report_outcome(dagrun, s3) == "deployed"


def test_a_challenger_that_does_not_beat_the_champion_is_not_deployed(nightly, sm, s3, capfd):
    before = sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"]
    dagrun, states = run(nightly, holdout_date="2013-01-13", promotion_margin=1.0)
    out = capfd.readouterr().out
    assert dagrun.state == "success", failures(out)
    assert states["deploy"] == "skipped" and states["smoke_test"] == "skipped" and states["report"] == "success"
    assert "Not deploying: the champion stays" in out
    assert sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"] == before
    [record] = [r for r in history(s3) if r["run_id"] == dagrun.run_id]
    assert record["winner"] == "champion" and record["deployed"] is False
    # The paired comparison on the held-out day, in the record and the task log.
    assert record["comparison_method"] == "DeLong" and record["confidence"] == 0.9
    assert record["gain_low"] <= record["gain"] <= record["gain_high"] < 1.0
    assert f"interval [{record['gain_low']:+.4f}, {record['gain_high']:+.4f}] (DeLong)" in out
    assert report_outcome(dagrun, s3) == "kept"


def test_a_model_that_fails_the_smoke_test_is_rolled_back(nightly, sm, s3, model_dags_folder, monkeypatch, capfd):
    import yaml
    from airflow.dag_processing.dagbag import DagBag

    tmp_path = model_dags_folder / "broken"
    tmp_path.mkdir()
    # A realistic serving bug: output_fn reports percentages, so offline evaluation (predict_fn) looks fine. The
    # buggy script ships as a copy of the flight spec that shares its champion history and endpoint.
    broken = tmp_path / "code"
    broken.mkdir()
    source = (ROOT / "training_scripts" / "flight_delay" / "train.py").read_text()
    bug = 'return "".join(f"{value!r}\\n" for value in values)'
    assert bug in source
    (broken / "train.py").write_text(source.replace(bug, 'return "".join(f"{value * 100!r}\\n" for value in values)'))
    copy = yaml.safe_load(FLIGHT_SPEC_FILE.read_text())
    copy.update(name="flight_broken", dag_ids={"nightly": "hpo_nightly_broken", "on_new_data": "hpo_broken_retune"})
    copy["algorithm"]["source_dir"] = str(broken)
    copy["data"].update(source=None, asset=None)  # no ingest DAG of its own, its own Asset
    (tmp_path / "flight_broken.yaml").write_text(yaml.safe_dump(copy))
    dag_file = write_dag_file(model_dags_folder, tmp_path / "flight_broken.yaml")
    dag = DagBag(dag_folder=str(dag_file)).dags["hpo_nightly_broken"]
    monkeypatch.setenv("AIRFLOW_VAR_FLIGHT_BROKEN_ENDPOINT_NAME", ENDPOINT)
    before = sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"]

    dagrun, states = run(dag, holdout_date="2013-01-14", promotion_margin=-1.0)
    out = capfd.readouterr().out
    assert dagrun.state == "failed"
    assert states["deploy"] == "success" and states["smoke_test"] == "failed" and states["report"] == "success"
    assert f"rolled endpoint {ENDPOINT} back to {before}" in out
    assert "predictions are not probabilities" in out
    endpoint = sm.describe_endpoint(EndpointName=ENDPOINT)
    assert endpoint["EndpointStatus"] == "InService" and endpoint["EndpointConfigName"] == before
    configs = {c["EndpointConfigName"] for c in sm.list_endpoint_configs(MaxResults=100)["EndpointConfigs"]}
    assert before in configs
    [record] = [r for r in history(s3) if r["run_id"] == dagrun.run_id]
    assert record["deployed"] is False and record["rolled_back"] is True
    assert report_outcome(dagrun, s3) == "rolled back"


def test_task_logging_works_in_a_task_that_imports_the_sagemaker_sdk(nightly):
    # prepare_data imports the SageMaker SDK for the region's image URI; its log lines after that import must
    # still reach the task log. `airflow tasks test` runs the task as a worker would, in its own process.
    command = [sys.executable, "-m", "airflow", "tasks", "test", "hpo_nightly", "prepare_data", "2013-01-12"]
    params = json.dumps({**SMALL_RUN, "holdout_date": "2013-01-12"})
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'plugins'}"}
    done = subprocess.run(
        [*command, "--task-params", params], env=env, capture_output=True, text=True, timeout=180, check=False
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    image = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
    assert f"flight_delay: image {image}, 3 jobs; train on 2013-01-06 to 2013-01-10, validate on 2013-01-11" in out

"""The second shipped model end to end: a regression (RMSE, lower wins) by the built-in XGBoost algorithm.

It differs from the flight model on every axis a spec has (data source, label, algorithm, channel format,
objective direction, evaluation metric, held-out window), and runs through the same DAG factory and task chain:
tune, evaluate, deploy, smoke test, report; then a second run whose challenger loses, so the champion stays.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest

from harness.local_sagemaker import ROOT
from tests.specs import HOTEL

BUCKET = "hotel-rates-tests"
ENDPOINT = "hotel-rates-tests"
SMALL = {
    "strategy": "Random",
    "max_jobs": 2,
    "max_parallel_jobs": 2,
    "training_window_days": 21,
    "validation_days": 7,
    "holdout_days": 7,
    "hyperparameters": {"num_round": 30},
}
LAST_DAY = datetime.date(2016, 8, 10)


@pytest.fixture(scope="module")
def nightly(airflow_db, s3):
    from airflow.dag_processing.dagbag import DagBag

    from include.pipeline.ingest import land

    land(s3, BUCKET, HOTEL, HOTEL.data.first_day, LAST_DAY)
    return DagBag(dag_folder=str(ROOT / "dags" / "hotel_rates.py")).dags["hotel_rates_nightly"]


@pytest.fixture(autouse=True)
def variables(monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_HPO_POLL_SECONDS", "1")
    monkeypatch.setenv("AIRFLOW_VAR_HPO_BUCKET", BUCKET)
    monkeypatch.setenv("AIRFLOW_VAR_HOTEL_RATES_ENDPOINT_NAME", ENDPOINT)


def run(dag: Any, **conf: Any) -> tuple[Any, dict[str, str]]:
    dagrun = dag.test(logical_date=None, run_conf={**SMALL, **conf})
    return dagrun, {ti.task_id: ti.state for ti in dagrun.get_task_instances()}


def records(s3: Any, run_id: str) -> list[dict[str, Any]]:
    from include.pipeline.champion import read_history

    return [r for r in read_history(s3, BUCKET, HOTEL.history_prefix) if r["run_id"] == run_id]


def test_the_regression_tunes_deploys_and_keeps_its_champion(nightly, sm, s3, sm_runtime, capfd, caplog):
    from include.pipeline.data import encode, feature_csv
    from include.pipeline.prepare import read_holdout

    # No holdout_date: a manual run holds out the newest landed day, and the 7 days before it with it.
    dagrun, states = run(nightly)
    out = capfd.readouterr().out
    assert dagrun.state == "success", [line for line in out.splitlines() if "Error" in line][-5:]
    assert set(states.values()) == {"success", "skipped"} and states["smoke_test"] == "success"
    assert "Held-out day 2016-08-10: the newest landed partition up to now" in caplog.text
    [record] = records(s3, dagrun.run_id)
    assert record["metric"] == "rmse" and record["direction"] == "Minimize" and record["holdout_date"] == "2016-08-10"
    assert record["winner"] == "challenger" and record["deployed"] is True and record["code_uri"] is None
    assert set(record["challenger_metrics"]) == {"rmse", "mae", "r2"}
    assert 0 < record["challenger_score"] < HOTEL.evaluation.smoke_threshold

    tuning = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=record["tuning_job_name"])
    assert record["tuning_job_name"].startswith("hotel-rates-")
    definition = tuning["TrainingJobDefinition"]
    assert definition["AlgorithmSpecification"].get("MetricDefinitions", []) == []  # the built-in algorithm's own
    assert tuning["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"] == {
        "Type": "Minimize",
        "MetricName": "validation:rmse",
    }
    assert {c["ContentType"] for c in definition["InputDataConfig"]} == {"text/libsvm"}
    best = tuning["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]
    assert best["MetricName"] == "validation:rmse" and best["Value"] > 0

    # The endpoint is the built-in XGBoost server: held-out rows in, prices out, the RMSE evaluate measured.
    plan = dagrun.get_task_instance("prepare_data").xcom_pull(task_ids="prepare_data")
    assert plan["holdout_days"] == [f"2016-08-{day:02d}" for day in range(4, 11)]
    rows = read_holdout(s3, plan["holdout_uri"])
    answer = sm_runtime.invoke_endpoint(EndpointName=ENDPOINT, ContentType="text/csv", Body=feature_csv(HOTEL, rows))
    predictions = [float(v) for v in answer["Body"].read().decode().split()]
    labels = encode(HOTEL, rows)[0]
    rmse = (sum((p - y) ** 2 for p, y in zip(predictions, labels, strict=True)) / len(labels)) ** 0.5
    assert rmse == pytest.approx(record["challenger_score"], rel=1e-3)
    report = f"{HOTEL.key('reports', record['tuning_job_name'])}/summary.json"
    assert json.loads(s3.get_object(Bucket=BUCKET, Key=report)["Body"].read())["totals"]["jobs"] == 2
    serving = sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"]

    # A two-round challenger on the same days: a far higher RMSE, so the champion stays and keeps serving.
    dagrun, states = run(
        nightly, holdout_date="2016-08-10", max_jobs=1, max_parallel_jobs=1, hyperparameters={"num_round": 2}
    )
    out = capfd.readouterr().out
    assert dagrun.state == "success"
    assert states["deploy"] == "skipped" and states["smoke_test"] == "skipped" and states["report"] == "success"
    [second] = records(s3, dagrun.run_id)
    assert second["winner"] == "champion" and second["champion_training_job"] == record["training_job_name"]
    assert second["champion_score"] == pytest.approx(record["challenger_score"])  # the champion, scored again
    assert second["challenger_score"] > second["champion_score"] + HOTEL.evaluation.margin
    assert f"against champion {second['champion_score']:.4f}" in out and "above the margin 0.5000" in out
    assert second["comparison_method"].startswith("paired bootstrap") and second["gain_high"] < 0  # RMSE: lower wins
    assert sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"] == serving

"""The tuning report from synthetic tuning jobs: tables, charts and totals (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from include.pipeline.report import (
    best_so_far,
    build_report,
    hyperparameter_scale,
    publish_report,
    report_totals,
)
from include.pipeline.spot import ON_DEMAND_USD_PER_HOUR

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

TUNING = {
    "tuning_job_name": "nightly-2013-06-01",
    "tuning_job_arn": "arn:aws:sagemaker:us-east-1:123456789012:hyper-parameter-tuning-job/nightly-2013-06-01",
    "status": "Completed",
    "strategy": "Bayesian",
    "training_job_counters": {"Completed": 3},
    "best_training_job": "nightly-2013-06-01-003",
    "best_hyperparameters": {"eta": "0.3", "max_depth": "5"},
    "objective_metric": "validation:auc",
    "objective_value": 0.74,
    "best_model_artifact": "s3://bucket/tuning/nightly-2013-06-01-003/output/model.tar.gz",
    "created": "2013-06-02T01:00:00+00:00",
    "ended": "2013-06-02T01:20:00+00:00",
}


def job(
    number: int,
    objective: float | None = 0.7,
    status: str = "Completed",
    training: int | None = 100,
    billable: int | None = 100,
    spot: bool = False,
    **hyperparameters: str,
) -> dict[str, Any]:
    return {
        "name": f"nightly-2013-06-01-{number:03d}",
        "status": status,
        "objective_metric": "validation:auc" if objective is not None else None,
        "objective": objective,
        "hyperparameters": hyperparameters or {"eta": "0.3", "max_depth": "5"},
        "created": f"2013-06-02T01:{number:02d}:00+00:00",
        "started": f"2013-06-02T01:{number:02d}:10+00:00",
        "ended": f"2013-06-02T01:{number:02d}:50+00:00",
        "training_seconds": training,
        "billable_seconds": billable,
        "instance_type": "ml.m5.large",
        "instance_count": 1,
        "spot": spot,
        "stopped_early": status == "Stopped",
        "failure_reason": "AlgorithmError: boom" if status == "Failed" else None,
        "final_metrics": {} if objective is None else {"validation:auc": objective},
    }


@pytest.mark.parametrize(
    ("maximize", "expected"),
    [(True, [0.5, 0.5, 0.7, 0.7, 0.9]), (False, [0.5, 0.4, 0.4, 0.4, 0.4])],
)
def test_best_so_far_follows_the_direction(maximize, expected):
    assert best_so_far([0.5, 0.4, 0.7, 0.6, 0.9], maximize) == expected


def test_best_so_far_of_nothing_is_nothing():
    assert best_so_far([], maximize=True) == []


def test_totals_count_statuses_seconds_and_the_spot_saving_over_spot_jobs_only():
    jobs = [
        job(1, training=100, billable=30, spot=True),
        job(2, training=50, billable=20, spot=True),
        job(3, training=40, billable=40),
        job(4, objective=None, status="Failed", training=None, billable=None),
        job(5, status="Stopped", training=10, billable=10),
    ]
    totals = report_totals(jobs)
    assert totals["jobs"] == 5
    assert totals["jobs_by_status"] == {"Completed": 3, "Failed": 1, "Stopped": 1}
    assert totals["training_seconds"] == 200
    assert totals["billable_seconds"] == 100
    assert totals["spot_jobs"] == 2
    assert totals["spot_savings_percent"] == pytest.approx(100 * (1 - 50 / 150))
    # 100 billable seconds of ml.m5.large at the table's on-demand price.
    assert totals["billable_usd"] == pytest.approx(100 * ON_DEMAND_USD_PER_HOUR["ml.m5.large"] / 3600)
    unpriced = [{**jobs[0], "instance_type": "ml.p5.48xlarge"}]
    assert report_totals(unpriced)["billable_usd"] is None


def test_spot_savings_are_none_without_spot_jobs_or_without_training_seconds():
    assert report_totals([job(1), job(2)])["spot_savings_percent"] is None
    assert report_totals([job(1, training=0, billable=0, spot=True)])["spot_savings_percent"] is None
    assert report_totals([])["spot_savings_percent"] is None


@pytest.mark.parametrize(
    ("values", "scale"),
    [
        (["0.0001", "0.003", "0.05"], "log"),  # 2.7 decades
        (["0.01", "0.5", "1.0"], "linear"),  # exactly 2 decades is not more than 2
        (["-1", "10", "1000"], "linear"),  # a log axis cannot show values <= 0
        (["2", "4", "6"], "linear"),
        (["gbtree", "dart"], "categorical"),
        (["1", "auto"], "categorical"),
    ],
)
def test_hyperparameter_scale(values, scale):
    assert hyperparameter_scale(values) == scale


def test_report_has_both_plots_as_png_and_links_them_relatively():
    jobs = [
        job(1, 0.70, eta="0.001", booster="gbtree"),
        job(2, 0.72, eta="0.05", booster="dart"),
        job(3, 0.74, eta="0.3", booster="gbtree"),
    ]
    report = build_report(TUNING, jobs)
    assert set(report.images) == {"objective.png", "hyperparameters.png"}
    assert all(png.startswith(PNG_SIGNATURE) for png in report.images.values())
    assert '<img src="objective.png"' in report.html
    assert '<img src="hyperparameters.png"' in report.html
    assert "nightly-2013-06-01-003" in report.html and "Bayesian" in report.html
    assert report.jobs == jobs


def test_a_minimized_objective_plots_too():
    jobs = [job(1, 0.6), job(2, 0.4), job(3, 0.5)]
    report = build_report({**TUNING, "objective_type": "Minimize", "objective_metric": "validation:logloss"}, jobs)
    assert report.images["objective.png"].startswith(PNG_SIGNATURE)
    assert "validation:logloss" in report.html


def test_hostile_values_from_data_are_escaped():
    hostile = "<script>alert(1)</script>"
    jobs = [job(1, 0.7, kind=hostile), job(2, objective=None, status="Failed")]
    jobs[1]["failure_reason"] = "<img src=x onerror=alert(2)>"
    tuning = {**TUNING, "tuning_job_name": "a&b<i>", "best_hyperparameters": {"kind": hostile}}
    report = build_report(tuning, jobs, {"<b>decision</b>": hostile})
    assert "<script>" not in report.html
    assert "<img src=x" not in report.html and "<b>decision" not in report.html and "<i>" not in report.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in report.html
    assert "a&amp;b&lt;i&gt;" in report.html
    assert report.images["hyperparameters.png"].startswith(PNG_SIGNATURE)


def test_without_any_objective_there_are_no_plots_but_every_job_is_listed():
    jobs = [job(1, objective=None, status="Failed"), job(2, objective=None, status="Stopped")]
    report = build_report({**TUNING, "status": "Failed", "best_training_job": None, "objective_value": None}, jobs)
    assert report.images == {}
    assert "<img" not in report.html
    assert "nothing to plot" in report.html
    assert "nightly-2013-06-01-001" in report.html and "nightly-2013-06-01-002" in report.html
    assert report.totals["jobs_by_status"] == {"Failed": 1, "Stopped": 1}


def test_jobs_without_an_objective_are_listed_but_a_single_scored_job_still_plots():
    report = build_report(TUNING, [job(1, objective=None, status="Failed"), job(2, 0.71)])
    assert set(report.images) == {"objective.png", "hyperparameters.png"}
    assert "AlgorithmError: boom" in report.html


def test_a_log_scaled_hyperparameter_renders():
    jobs = [job(i, 0.6 + i / 100, alpha=str(10.0**-i)) for i in range(1, 6)]  # 1e-1 … 1e-5
    assert hyperparameter_scale([j["hyperparameters"]["alpha"] for j in jobs]) == "log"
    assert build_report(TUNING, jobs).images["hyperparameters.png"].startswith(PNG_SIGNATURE)


def test_the_evaluation_table_shows_the_keys_given_and_only_when_given():
    evaluation = {"challenger_auc": 0.7412, "champion_auc": 0.7301, "rows": 912, "decision": "promote"}
    with_evaluation = build_report(TUNING, [job(1)], evaluation).html
    assert "challenger_auc" in with_evaluation and "0.7412" in with_evaluation and "promote" in with_evaluation
    assert "champion_log_loss" not in with_evaluation
    assert "challenger_auc" not in build_report(TUNING, [job(1)]).html


def test_totals_are_in_the_page():
    page = build_report(TUNING, [job(1, training=100, billable=30, spot=True), job(2, training=60, billable=60)]).html
    assert "Billable seconds</th><td>90<" in page
    assert "Spot savings</th><td>70.0 %<" in page


def test_publish_refuses_a_link_longer_than_sigv4_allows():
    with pytest.raises(ValueError, match="expires_in"):
        publish_report(None, build_report(TUNING, []), "bucket", "reports/x", expires_in=8 * 24 * 3600)


def test_a_warm_started_report_shows_each_parents_best_next_to_its_own():
    parents = [
        {"name": "hpo-parent-a", "status": "Completed", "best_training_job": "hpo-parent-a-003", "objective": 0.71},
        {"name": "hpo-parent-b", "status": "Completed", "best_training_job": "hpo-parent-b-001", "objective": 0.74},
        {"name": "hpo-gone", "status": "ResourceNotFound", "best_training_job": None, "objective": None},
    ]
    report = build_report({**TUNING, "objective_value": 0.75}, [job(1, 0.75)], parents=parents)
    assert report.totals["parents_best"] == 0.74
    section = report.html.split("<h2>Warm start</h2>", 1)[1].split("<h2>", 1)[0]
    for text in ("hpo-parent-a (parent, Completed)", "0.71", "hpo-gone (parent, ResourceNotFound)", "0.74"):
        assert text in section
    assert "This job minus the parents&#x27; best</th><td>0.01" in section
    cold = build_report(TUNING, [job(1, 0.75)])
    assert "Warm start" not in cold.html and "parents_best" not in cold.totals

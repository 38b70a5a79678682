"""The tuning report from synthetic tuning jobs: the decision summary, Optuna's plots, tables and totals (pure)."""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
import subprocess
from typing import Any

import pytest

from include.pipeline.report import (
    DEPLOYED,
    KEPT,
    NOT_DEPLOYED,
    NOT_EVALUATED,
    ROLLED_BACK,
    UNVERIFIED,
    build_report,
    fmt,
    fmt_hyperparameter,
    metric_curve,
    publish_report,
    report_totals,
    serving_outcome,
)
from include.pipeline.report_history import build_history, history_prefix, run_outcome
from include.pipeline.report_study import build_study, is_log_scaled, tuned_ranges
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
        "curve": [] if objective is None else [objective * (1 - 0.5**r) for r in range(1, 6)],
    }


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


def test_hostile_values_from_data_are_escaped():
    hostile = "<script>alert(1)</script>"
    jobs = [job(1, 0.7, kind=hostile), job(2, objective=None, status="Failed")]
    jobs[1]["failure_reason"] = "<img src=x onerror=alert(2)>"
    tuning = {**TUNING, "tuning_job_name": "a&b<i>", "best_hyperparameters": {"kind": hostile}}
    report = build_report(tuning, jobs, {"<b>decision</b>": hostile})
    assert hostile not in report.html and report.html.count("<script>") == 1  # the page's own sort script
    assert "<img src=x" not in report.html and "<b>decision" not in report.html and "<i>" not in report.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in report.html
    assert "a&amp;b&lt;i&gt;" in report.html
    assert report.images["slice.png"].startswith(PNG_SIGNATURE)


def test_publish_refuses_a_link_longer_than_sigv4_allows():
    with pytest.raises(ValueError, match="expires_in"):
        publish_report(None, build_report(TUNING, []), "bucket", "reports/x", expires_in=8 * 24 * 3600)


RANGES = {
    "eta": {"Name": "eta", "MinValue": "0.001", "MaxValue": "0.5", "ScalingType": "Logarithmic", "Kind": "Continuous"},
    "max_depth": {"Name": "max_depth", "MinValue": "2", "MaxValue": "10", "ScalingType": "Linear", "Kind": "Integer"},
}
RECORD = {
    "model": "flight_delay",
    "dag_id": "hpo_nightly",
    "run_id": "scheduled__2013-06-01",
    "holdout_date": "2013-06-01",
    "live": True,
    "evaluated_at": "2013-06-02T02:00:00+00:00",
    "tuning_job_name": "nightly-2013-06-01",
    "training_job_name": "nightly-2013-06-01-003",
    "rows": 912,
    "metric": "log_loss",
    "direction": "Minimize",
    "challenger_score": 0.49999999999999994,
    "challenger_metrics": {"log_loss": 0.49999999999999994, "auc": 0.9179955484688721},
    "champion_training_job": "nightly-2013-05-31-007",
    "champion_score": 0.5123456,
    "champion_metrics": {"log_loss": 0.5123456, "auc": 0.9},
    "margin": 0.0,
    "winner": "challenger",
    "reason": "challenger log_loss 0.5000 against champion 0.5123: gain +0.0123, 90 % interval [+0.0020, +0.0226] "
    "(paired bootstrap, 2000 resamples, seed 2013); the challenger wins when the interval's lower end is above the "
    "margin 0.0000: it is, the challenger wins",
    "record_key": "champion/history/2013-06-01/scheduled-abc.json",
    "deployed": False,
    "gain": 0.0123456,
    "gain_low": 0.002,
    "gain_high": 0.0226,
    "confidence": 0.9,
    "comparison_method": "paired bootstrap, 2000 resamples, seed 2013",
}


def scored_jobs() -> list[dict[str, Any]]:
    return [
        job(1, 0.70, eta="0.001", max_depth="3"),
        job(2, 0.72, eta="0.05", max_depth="5"),
        job(3, 0.74, eta="0.3", max_depth="5"),
        job(4, 0.71, status="Stopped", eta="0.01", max_depth="8"),
        job(5, objective=None, status="Failed", eta="0.2", max_depth="2"),
    ]


def lead(page: str) -> str:
    return page.split("id='outcome'>", 1)[1].split("</p>", 1)[0]


@pytest.mark.parametrize(
    ("record", "deployment", "smoke", "because", "state", "said"),
    [
        (
            {**RECORD, "deployed": True, "endpoint": "flight-delay"},
            {"endpoint": "flight-delay"},
            {"score": 0.5, "rows": 912},
            None,
            DEPLOYED,
            "Deployed: the challenger nightly-2013-06-01-003 now serves on flight-delay.",
        ),
        (
            {**RECORD, "winner": "champion"},
            None,
            None,
            "the champion stays",
            KEPT,
            "Kept: the champion nightly-2013-05-31-007 still serves",
        ),
        (
            {**RECORD, "rolled_back": True, "rollback_reason": "predictions are not probabilities"},
            {"endpoint": "flight-delay"},
            None,
            None,
            ROLLED_BACK,
            "Rolled back: the challenger nightly-2013-06-01-003 failed its smoke test on flight-delay",
        ),
        (
            {**RECORD, "live": False},
            None,
            None,
            "a backfill run never deploys",
            NOT_DEPLOYED,
            "Not deployed: the challenger nightly-2013-06-01-003 won but was not deployed.",
        ),
        (RECORD, {"endpoint": "flight-delay"}, None, None, UNVERIFIED, "Deployed but not verified"),
        (None, None, None, None, NOT_EVALUATED, "Not evaluated: nothing was deployed."),
    ],
)
def test_the_summary_states_the_final_outcome_first(record, deployment, smoke, because, state, said):
    outcome = serving_outcome(record, deployment=deployment, smoke=smoke, not_deployed_because=because)
    assert outcome.state == state
    page = build_report(TUNING, [job(1, 0.74)], record, outcome=outcome, plots=False).html
    assert said in lead(page)
    assert f": {state}</h1>" in page
    assert page.index("id='outcome'") < page.index("<h2>")  # before any section
    if state == ROLLED_BACK:
        assert "predictions are not probabilities" in page
    if because:
        assert because in page or state == KEPT


def test_the_summary_says_why_with_the_best_jobs_hyperparameters_and_the_spend():
    jobs = [job(1, 0.74, training=100, billable=30, spot=True), job(2, 0.7, training=60, billable=60)]
    tuning = {**TUNING, "best_hyperparameters": {"eta": "0.012345678", "max_depth": "5"}}
    outcome = serving_outcome({**RECORD, "deployed": True}, smoke={"score": 0.5, "rows": 912})
    page = build_report(tuning, jobs, {**RECORD, "deployed": True}, outcome=outcome, plots=False).html
    summary = page.split("<ul class='summary'>", 1)[1].split("</ul>", 1)[0]
    assert "<b>Why</b>: challenger log_loss 0.5000 against champion 0.5123: gain +0.0123, 90 % interval" in summary
    assert "+0.0123, 90 % interval [+0.0020, +0.0226] (paired bootstrap, 2000 resamples, seed 2013)" in page
    assert "<code>eta</code> 0.0123, <code>max_depth</code> 5" in summary
    assert "billed 90 s" in summary and "on demand they would have billed all 160 s" in summary
    assert "spot saved 70 %" in summary


def test_numbers_have_significant_digits_and_fields_read_as_words():
    page = build_report(TUNING, [job(1, 0.74)], RECORD, outcome=serving_outcome(RECORD), plots=False).html
    assert "0.49999999999999994" not in page and "0.9179955484688721" not in page
    assert "<th>Challenger log loss</th><td>0.5</td>" in page
    assert "<th>AUC: challenger / champion</th><td>0.918 / 0.9</td>" in page
    for raw in ("record_key", "dag_id", "challenger_log_loss", "champion_metrics"):
        assert raw not in page
    assert fmt(0.49999999999999994) == "0.5" and fmt(1234567) == "1,234,567" and fmt(None) == "–"
    assert fmt_hyperparameter("0.012345678") == "0.0123" and fmt_hyperparameter("7") == "7"
    assert fmt_hyperparameter("gbtree") == "gbtree"


def test_every_plot_named_in_the_page_is_among_the_images_and_each_is_a_png():
    report = build_report(TUNING, scored_jobs(), RECORD, ranges=RANGES, champion_level=0.73)
    # Each plot is inside the page (a presigned link opens one object), and also published beside it.
    embedded = [base64.b64decode(data) for data in re.findall(r"<img src='data:image/png;base64,([^']+)'", report.html)]
    assert list(report.images) == ["history.png", "slice.png", "parallel.png", "importances.png", "curves.png"]
    assert embedded == list(report.images.values())
    assert all(png.startswith(PNG_SIGNATURE) for png in embedded)
    assert len(re.findall(r"<img ", report.html)) == len(embedded)


def test_a_minimized_objective_without_curves_or_ranges_still_plots_what_it_can():
    jobs = [{**j, "curve": []} for j in scored_jobs()]
    tuning = {**TUNING, "objective_type": "Minimize", "objective_metric": "validation:logloss"}
    report = build_report(tuning, jobs)
    assert "curves.png" not in report.images and "history.png" in report.images
    assert "validation:logloss" in report.html


def test_without_any_objective_there_are_no_plots_but_every_job_is_listed():
    jobs = [job(1, objective=None, status="Failed"), job(2, objective=None, status="Stopped")]
    report = build_report({**TUNING, "status": "Failed", "best_training_job": None, "objective_value": None}, jobs)
    assert report.images == {} and "<img" not in report.html
    assert "nothing to plot" in report.html and "AlgorithmError: boom" in report.html
    assert "nightly-2013-06-01-001" in report.html and "nightly-2013-06-01-002" in report.html


def test_the_jobs_table_lists_the_best_first_and_sorts_by_a_click():
    report = build_report(TUNING, scored_jobs(), plots=False)
    table = report.html.split("<table class='sortable' id='jobs'>", 1)[1].split("</table>", 1)[0]
    order = re.findall(r"<td>(nightly-2013-06-01-\d+)</td>", table)
    assert order == [f"nightly-2013-06-01-00{n}" for n in (3, 2, 4, 1, 5)]
    assert "<th>validation:auc</th><th>eta</th><th>max_depth</th>" in table
    assert "data-v='0.74'" in table and "<tr class='best'>" in table
    assert "addEventListener('click'" in report.html
    assert "<meta name='viewport' content='width=device-width, initial-scale=1'>" in report.html


def test_the_study_uses_the_tuning_jobs_distributions_and_each_jobs_curve():
    from optuna.distributions import FloatDistribution, IntDistribution

    jobs = [*scored_jobs(), job(6, 0.9, eta="5.0", max_depth="3")]  # eta outside its range
    study, left_out = build_study(jobs, RANGES, maximize=True)
    assert left_out == ["nightly-2013-06-01-006"]
    trials = study.get_trials(deepcopy=False)
    assert [t.state.name for t in trials] == ["COMPLETE"] * 4 + ["FAIL"]
    assert trials[0].distributions == {
        "eta": FloatDistribution(0.001, 0.5, log=True),
        "max_depth": IntDistribution(2, 10),
    }
    assert trials[0].params == {"eta": 0.001, "max_depth": 3}
    assert trials[2].intermediate_values == dict(enumerate(job(3, 0.74)["curve"]))
    assert study.best_trial.user_attrs["training_job"] == "nightly-2013-06-01-003"


@pytest.mark.parametrize(
    ("item", "log"),
    [
        ({"MinValue": "0.01", "MaxValue": "0.5", "ScalingType": "Logarithmic"}, True),
        ({"MinValue": "0.01", "MaxValue": "0.5", "ScalingType": "Linear"}, False),
        ({"MinValue": "0.0001", "MaxValue": "1", "ScalingType": "Auto"}, True),
        ({"MinValue": "0.1", "MaxValue": "1", "ScalingType": "Auto"}, False),
        ({"MinValue": "0.5", "MaxValue": "0.99", "ScalingType": "ReverseLogarithmic"}, False),
    ],
)
def test_log_axes_where_the_range_is_searched_on_a_log_scale(item, log):
    assert is_log_scaled(item) is log


def test_the_tuning_jobs_ranges_come_from_every_definition():
    described = {
        "HyperParameterTuningJobConfig": {},
        "TrainingJobDefinitions": [
            {
                "HyperParameterRanges": {
                    "ContinuousParameterRanges": [{"Name": "eta", "MinValue": "0", "MaxValue": "1"}]
                }
            },
            {"HyperParameterRanges": {"CategoricalParameterRanges": [{"Name": "kind", "Values": ["a", "b"]}]}},
        ],
    }
    ranges = tuned_ranges(described)
    assert {name: item["Kind"] for name, item in ranges.items()} == {"eta": "Continuous", "kind": "Categorical"}


def test_the_curve_is_every_value_the_objective_regex_finds_in_the_log():
    lines = ["starting", "[0]#011validation-auc:0.61", "[1]#011validation-auc:0.65", "oops validation-auc:nan?"]
    assert metric_curve(lines, r"validation-auc:([0-9.]+)") == [0.61, 0.65]


def test_the_history_page_marks_deployments_and_rollbacks_and_links_every_runs_report():
    records = [
        {**RECORD, "holdout_date": "2013-05-30", "tuning_job_name": "hpo-a", "champion_score": None, "deployed": True},
        {**RECORD, "holdout_date": "2013-05-31", "tuning_job_name": "hpo-b", "rolled_back": True},
        {**RECORD, "holdout_date": "2013-06-01", "tuning_job_name": "hpo-c", "winner": "champion"},
        {**RECORD, "holdout_date": "2013-06-01", "tuning_job_name": "hpo-d", "live": False},
    ]
    history = build_history("flight_delay", records, report_link=lambda job: f"https://signed.example/{job}?sig=1")
    embedded = re.findall(r"<img src='data:image/png;base64,([^']+)'", history.html)
    assert [base64.b64decode(e) for e in embedded] == [history.images["history.png"]]
    assert history.images["history.png"].startswith(PNG_SIGNATURE)
    for name in ("hpo-a", "hpo-b", "hpo-c", "hpo-d"):
        assert f"href='https://signed.example/{name}?sig=1'" in history.html
    assert "href='../../hpo-a/index.html'" in build_history("flight_delay", records).html  # without a link maker
    rows = history.html.split("<tbody>", 1)[1]
    assert [run_outcome(r) for r in records] == ["deployed", "rolled back", "kept", "won, backfill"]
    assert rows.index("hpo-d") < rows.index("hpo-a")  # newest first
    assert "1 deployed, 1 rolled back, 1 kept" in history.html
    assert history_prefix("reports", "flight_delay") == "reports/_history/flight_delay"
    report = build_report(TUNING, [job(1)], history_link="https://signed.example/history?sig=2", plots=False)
    assert "href='https://signed.example/history?sig=2'" in report.html


BROWSERS = ("chromium", "chromium-browser", "google-chrome")


@pytest.mark.skipif(not any(shutil.which(b) for b in BROWSERS), reason="no headless browser installed")
def test_a_headless_browser_at_phone_width_sorts_the_jobs_and_needs_no_sideways_scroll(tmp_path):
    browser = next(shutil.which(b) for b in BROWSERS if shutil.which(b))
    report = build_report(TUNING, scored_jobs(), RECORD, outcome=serving_outcome(RECORD), ranges=RANGES)
    for file, png in report.images.items():
        (tmp_path / file).write_bytes(png)
    # Click the objective's header twice (ascending, then descending) and write what the page looks like.
    probe = (
        "<script>window.addEventListener('load',function(){var th=document.querySelectorAll('#jobs th')[2];"
        "th.click();var up=document.querySelector('#jobs tbody tr td').textContent;th.click();"
        "var down=document.querySelector('#jobs tbody tr td').textContent;var imgs=[].slice.call(document.images);"
        "document.body.setAttribute('data-probe',JSON.stringify({up:up,down:down,"
        "wide:document.documentElement.scrollWidth-window.innerWidth,"
        "loaded:imgs.filter(function(i){return i.complete&&i.naturalWidth>0}).length,images:imgs.length}))})"
        "</script></body>"
    )
    (tmp_path / "index.html").write_text(report.html.replace("</body>", probe))
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=390,844"]
    command += ["--virtual-time-budget=5000", "--dump-dom", (tmp_path / "index.html").as_uri()]
    dom = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True).stdout
    found = json.loads(html.unescape(re.search(r'data-probe="([^"]+)"', dom).group(1)))
    assert found["up"] == "nightly-2013-06-01-001" and found["down"] == "nightly-2013-06-01-003"
    assert found["wide"] <= 0  # the page fits a 390 px wide phone; wide tables scroll inside their box
    assert found["images"] == len(report.images) and found["loaded"] == found["images"]

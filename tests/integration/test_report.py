"""The tuning report of one real tuning job on the local SageMaker: collected across pages and published."""

from __future__ import annotations

import json
import urllib.request
from collections import Counter
from typing import Any

import pytest

from harness.local_sagemaker import ASSETS, unique, upload_source, wait_for_tuning
from include.pipeline.report import (
    build_report,
    collect_ranges,
    collect_training_jobs,
    publish_report,
)
from include.pipeline.spot import spot_definition
from include.pipeline.tuning_summary import summarize
from tests.tuning_helpers import curve_definition, tuning_request

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# --- on the real local SageMaker ---------------------------------------------------------------


@pytest.fixture(scope="module")
def finished_tuning(sm, s3, bucket, channels) -> dict[str, Any]:
    """A Random tuning job of 3 short curve.py jobs on managed spot, x and a categorical `kind` tuned."""
    code = upload_source(s3, bucket, {"curve.py": ASSETS / "curve.py"}, "code/report-curve/sourcedir.tar.gz")
    definition = spot_definition(
        curve_definition(code, channels["train"], f"s3://{bucket}/report-tuning", {"epochs": "4"}),
        use_spot=True,
        checkpoint_uri=f"s3://{bucket}/report-checkpoints/",
    )
    ranges = {
        "ContinuousParameterRanges": [{"Name": "x", "MinValue": "0.0", "MaxValue": "1.0"}],
        "CategoricalParameterRanges": [{"Name": "kind", "Values": ["a", "b"]}],
    }
    name = unique("report")[:32]
    sm.create_hyper_parameter_tuning_job(**tuning_request(name, definition, "Random", ranges, max_jobs=3, parallel=2))
    described = wait_for_tuning(sm, name)
    assert described["HyperParameterTuningJobStatus"] == "Completed", described.get("FailureReason")
    return described


def listed(sm: Any, name: str) -> list[dict[str, Any]]:
    pages = sm.get_paginator("list_training_jobs_for_hyper_parameter_tuning_job").paginate(
        HyperParameterTuningJobName=name
    )
    return [summary for page in pages for summary in page["TrainingJobSummaries"]]


@pytest.mark.slow
def test_a_real_tuning_job_is_collected_reported_and_published(sm, s3, bucket, finished_tuning, local_sagemaker):
    name = finished_tuning["HyperParameterTuningJobName"]
    jobs = collect_training_jobs(sm, name, logs_client=local_sagemaker.client("logs"))
    json.dumps(jobs)  # JSON-safe, as an XCom must be

    summaries = listed(sm, name)
    assert {j["name"]: j["status"] for j in jobs} == {s["TrainingJobName"]: s["TrainingJobStatus"] for s in summaries}
    assert len(jobs) == 3
    assert [j["created"] for j in jobs] == sorted(j["created"] for j in jobs)
    for collected in jobs:
        assert collected["status"] == "Completed"
        assert collected["billable_seconds"] > 0
        assert collected["billable_seconds"] <= collected["training_seconds"]
        assert collected["spot"] is True
        assert collected["objective_metric"] == "objective"
        assert collected["objective"] == collected["final_metrics"]["objective"]
        assert set(collected["hyperparameters"]) == {"x", "kind"}
        # curve.py prints `epoch=<n> objective=<v>;` for each of its 4 epochs; the last is the final objective.
        assert len(collected["curve"]) == 4 and collected["curve"][-1] == pytest.approx(collected["objective"])
        assert collected["curve"] == sorted(collected["curve"])

    report = build_report(summarize(finished_tuning, None), jobs, ranges=collect_ranges(sm, name))
    assert report.totals["jobs_by_status"] == dict(Counter(s["TrainingJobStatus"] for s in summaries))
    assert report.totals["spot_savings_percent"] is not None and 0 <= report.totals["spot_savings_percent"] < 100

    prefix = f"reports/{name}"
    result = publish_report(s3, report, bucket, prefix)
    assert result["report_uri"] == f"s3://{bucket}/{prefix}/index.html"
    files = ("curves.png", "history.png", "importances.png", "parallel.png", "slice.png")
    assert sorted(result["images"]) == [f"s3://{bucket}/{prefix}/{file}" for file in files]
    with urllib.request.urlopen(result["report_url"], timeout=10) as response:
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
        page = response.read().decode()
    assert name in page and page == report.html
    image = s3.get_object(Bucket=bucket, Key=f"{prefix}/curves.png")
    assert image["ContentType"] == "image/png" and image["Body"].read().startswith(PNG_SIGNATURE)
    summary = json.loads(s3.get_object(Bucket=bucket, Key=f"{prefix}/summary.json")["Body"].read())
    assert summary == {"totals": report.totals, "outcome": None, "jobs": jobs}


@pytest.mark.slow
def test_collecting_follows_next_token_across_pages(sm, finished_tuning):
    name = finished_tuning["HyperParameterTuningJobName"]
    first = sm.list_training_jobs_for_hyper_parameter_tuning_job(HyperParameterTuningJobName=name, MaxResults=2)
    assert len(first["TrainingJobSummaries"]) == 2 and first.get("NextToken")  # so page_size=2 means two pages
    paged = collect_training_jobs(sm, name, page_size=2)
    assert len(paged) == 3
    assert paged == collect_training_jobs(sm, name)

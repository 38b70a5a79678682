"""Search over HTTP with boto3: the best training job across all the tuning jobs of a model.

Two tiny tuning jobs of the curve script (tests/assets/curve.py, 3 jobs of 3 short epochs each) share a name
prefix, as a model's nightly tuning jobs do; Search finds their training jobs by TuningJobArn, sorts them by the
objective metric and pages through them with boto3's paginator. The filter logic itself is tested in-process
(tests/unit/test_search.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from harness.local_sagemaker import ASSETS, unique, upload_source, wait_for_tuning
from tests.tuning_helpers import curve_definition, tuning_request

OBJECTIVE = "Metrics.objective"


@pytest.fixture(scope="module")
def model(sm, s3, bucket, channels) -> dict[str, Any]:
    """Two completed tuning jobs named <model>-a and <model>-b: their names and DescribeHyperParameterTuningJob."""
    code = upload_source(s3, bucket, {"curve.py": ASSETS / "curve.py"}, "code/search-curve/sourcedir.tar.gz")
    definition = curve_definition(
        code, channels["train"], f"s3://{bucket}/search", {"epochs": "3", "epoch_seconds": "0.01"}
    )
    prefix = unique("srch")
    names = [f"{prefix}-a", f"{prefix}-b"]
    for seed, name in enumerate(names, start=1):
        request = tuning_request(name, definition, "Random", max_jobs=3, parallel=3)
        request["HyperParameterTuningJobConfig"]["RandomSeed"] = seed
        sm.create_hyper_parameter_tuning_job(**request)
    described = [wait_for_tuning(sm, name) for name in names]
    assert [d["HyperParameterTuningJobStatus"] for d in described] == ["Completed", "Completed"]
    return {"prefix": prefix, "tunings": described}


def best_of(tunings: list[dict[str, Any]]) -> dict[str, Any]:
    return max(
        (t["BestTrainingJob"] for t in tunings), key=lambda b: b["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
    )


def of_model(prefix: str) -> dict[str, Any]:
    # ARNs hold the name lower-cased; unique() names are lower-case already.
    return {
        "Filters": [{"Name": "TuningJobArn", "Operator": "Contains", "Value": f":hyper-parameter-tuning-job/{prefix}-"}]
    }


def test_search_finds_the_best_training_job_across_the_models_tuning_jobs(sm, model):
    out = sm.search(
        Resource="TrainingJob",
        SearchExpression=of_model(model["prefix"]),
        SortBy=OBJECTIVE,
        SortOrder="Descending",
        MaxResults=1,
    )
    best = best_of(model["tunings"])
    top = out["Results"][0]["TrainingJob"]
    assert top["TrainingJobName"] == best["TrainingJobName"]
    assert out["TotalHits"] == {"Value": 6, "Relation": "EqualTo"}
    final = {m["MetricName"]: m["Value"] for m in top["FinalMetricDataList"]}
    assert final["objective"] == best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
    assert top["TuningJobArn"] in {t["HyperParameterTuningJobArn"] for t in model["tunings"]}
    assert "x" in top["HyperParameters"]


def test_the_paginator_pages_through_every_job_in_objective_order(sm, model):
    pages = sm.get_paginator("search").paginate(
        Resource="TrainingJob",
        SearchExpression=of_model(model["prefix"]),
        SortBy=OBJECTIVE,
        SortOrder="Ascending",
        PaginationConfig={"PageSize": 2},
    )
    jobs = [r["TrainingJob"] for page in pages for r in page["Results"]]
    assert len(jobs) == len({j["TrainingJobName"] for j in jobs}) == 6
    assert all(j["TrainingJobName"].startswith(model["prefix"]) for j in jobs)
    objectives = [next(m["Value"] for m in j["FinalMetricDataList"] if m["MetricName"] == "objective") for j in jobs]
    assert objectives == sorted(objectives)


def test_a_metric_filter_compares_numbers_and_combines_with_or(sm, model):
    best = best_of(model["tunings"])["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
    at_best = sm.search(
        Resource="TrainingJob",
        SearchExpression={
            "Filters": [
                of_model(model["prefix"])["Filters"][0],
                {"Name": OBJECTIVE, "Operator": "GreaterThanOrEqualTo", "Value": repr(best)},
            ]
        },
    )
    assert [r["TrainingJob"]["TrainingJobName"] for r in at_best["Results"]] == [
        best_of(model["tunings"])["TrainingJobName"]
    ]
    either = sm.search(
        Resource="HyperParameterTuningJob",
        SearchExpression={
            "Filters": [
                {"Name": "HyperParameterTuningJobName", "Operator": "Equals", "Value": t["HyperParameterTuningJobName"]}
                for t in model["tunings"]
            ],
            "Operator": "Or",
        },
        SortBy="BestTrainingJob.FinalHyperParameterTuningJobObjectiveMetric.Value",
    )
    tunings = [r["HyperParameterTuningJob"] for r in either["Results"]]
    assert len(tunings) == 2
    assert tunings[0]["BestTrainingJob"]["TrainingJobName"] == best_of(model["tunings"])["TrainingJobName"]
    assert tunings[0]["TrainingJobStatusCounters"]["Completed"] == 3


def test_a_resource_it_does_not_search_is_refused_by_name(sm):
    with pytest.raises(ClientError) as error:
        sm.search(Resource="ExperimentTrialComponent")
    assert error.value.response["Error"]["Code"] == "ValidationException"
    assert "ExperimentTrialComponent" in error.value.response["Error"]["Message"]

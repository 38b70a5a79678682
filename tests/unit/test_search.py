"""Search in-process: SearchExpression filters, sort and pagination over training jobs and tuning jobs.

The backend runs over the fake launcher (tests/fake_launcher.py); requests go through the wire layer's request
validation first and every response is checked against botocore's Search output shape, as over HTTP.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.validate import ParamValidator

from include.local_sagemaker.exceptions import ValidationException
from include.local_sagemaker.models.backend import SageMakerBackend
from include.local_sagemaker.protocol import operation_model, validate_request
from tests.fake_launcher import definition, fake_backend, run_tuning, tuning_request

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def search(backend: SageMakerBackend, **params: Any) -> dict[str, Any]:
    validate_request("Search", params)
    out = backend.search(params)
    report = ParamValidator().validate(out, operation_model("Search").output_shape)
    assert not report.has_errors(), report.generate_report()
    return out


def names(out: dict[str, Any]) -> list[str]:
    return [
        r.get("TrainingJob", {}).get("TrainingJobName") or r["HyperParameterTuningJob"]["HyperParameterTuningJobName"]
        for r in out["Results"]
    ]


def finished_job(
    backend: SageMakerBackend,
    name: str,
    metrics: dict[str, float],
    hyperparameters: dict[str, str],
    status: str = "Completed",
    created: datetime = T0,
    **extra: Any,
) -> None:
    """A training job that ended with these final metrics, created at `created` (and modified a minute later)."""
    request = {k: v for k, v in definition().items() if k != "StaticHyperParameters"}
    backend.create_training_job({**request, "TrainingJobName": name, "HyperParameters": hyperparameters, **extra})
    job = backend.training_jobs[name]
    for metric, value in metrics.items():
        job.record_metric(metric, value, created)
    job.finish(
        status, status, f"Training job {status.lower()}", reason="AlgorithmError: boom" if status == "Failed" else None
    )
    job.created, job.modified = created, created + timedelta(minutes=1)


@pytest.fixture
def jobs(tmp_path) -> SageMakerBackend:
    """Four jobs whose values order differently as text than as numbers or times."""
    backend, _ = fake_backend(tmp_path, lambda h: [1.0])
    finished_job(backend, "alpha", {"auc": 0.9, "loss": 10.0}, {"max_depth": "10", "eta": "0.3"}, created=T0)
    finished_job(
        backend,
        "beta",
        {"auc": 0.7, "loss": 9.0},
        {"max_depth": "4", "eta": "1.7"},
        created=T0 + timedelta(hours=1),
        Tags=[{"Key": "team", "Value": "flights"}],
    )
    finished_job(backend, "gamma", {"auc": 0.8}, {"max_depth": "2", "eta": "0.05"}, created=T0 + timedelta(hours=2))
    finished_job(backend, "delta", {}, {"max_depth": "six"}, status="Failed", created=T0 + timedelta(hours=3))
    return backend


def where(*filters: dict[str, str], operator: str | None = None) -> dict[str, Any]:
    return {"Filters": list(filters), **({"Operator": operator} if operator else {})}


def f(name: str, operator: str | None = None, value: str | None = None) -> dict[str, str]:
    return {"Name": name, **({"Operator": operator} if operator else {}), **({"Value": value} if value else {})}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (where(f("TrainingJobStatus", "Equals", "Completed")), {"alpha", "beta", "gamma"}),
        (where(f("TrainingJobStatus", value="Failed")), {"delta"}),  # a Value without Operator means Equals
        (where(f("TrainingJobStatus", "NotEquals", "Completed")), {"delta"}),
        (where(f("TrainingJobName", "Contains", "ta")), {"beta", "delta"}),
        (where(f("TrainingJobStatus", "In", "Failed, Stopped")), {"delta"}),
        # numbers compare as numbers: 10.0 > 9.5 although "10.0" < "9.5"
        (where(f("Metrics.loss", "GreaterThan", "9.5")), {"alpha"}),
        (where(f("Metrics.auc", "GreaterThanOrEqualTo", "0.8")), {"alpha", "gamma"}),
        (where(f("Metrics.auc", "LessThan", "0.8")), {"beta"}),
        (where(f("Metrics.auc", "LessThanOrEqualTo", "0.8")), {"beta", "gamma"}),
        (where(f("Metrics.auc", "Equals", "0.9")), {"alpha"}),
        (where(f("Metrics.loss", "Exists")), {"alpha", "beta"}),
        (where(f("Metrics.loss", "NotExists")), {"gamma", "delta"}),
        (where(f("FailureReason", "Exists")), {"delta"}),
        (where(f("TuningJobArn", "NotExists")), {"alpha", "beta", "gamma", "delta"}),
        # hyperparameters are text, compared as numbers against a number: 10 > 3 although "10" < "3"
        (where(f("HyperParameters.max_depth", "GreaterThan", "3")), {"alpha", "beta"}),
        (where(f("HyperParameters.eta", "LessThan", "0.5")), {"alpha", "gamma"}),
        # ... and as integers against an integer: 1.7 is 1
        (where(f("HyperParameters.eta", "Equals", "1")), {"beta"}),
        (where(f("HyperParameters.max_depth", "NotEquals", "4")), {"alpha", "gamma", "delta"}),
        (where(f("HyperParameters.max_depth", "Equals", "six")), {"delta"}),
        # timestamps compare as times, at the precision given
        (where(f("CreationTime", "GreaterThan", "2024-05-01T13:30:00")), {"gamma", "delta"}),
        (where(f("CreationTime", "Equals", "2024-05-01T13:00:00")), {"beta"}),
        (where(f("CreationTime", "LessThan", "2024-05-01T14:00:00+01:00")), {"alpha"}),
        (where(f("EnableManagedSpotTraining", "Equals", "false")), {"alpha", "beta", "gamma", "delta"}),
        (where(f("ResourceConfig.InstanceType", "Equals", "ml.m5.large")), {"alpha", "beta", "gamma", "delta"}),
        (where(f("Tags.team", "Equals", "flights")), {"beta"}),
        # And is the default; Or, and subexpressions
        (where(f("Metrics.auc", "GreaterThan", "0.75"), f("Metrics.loss", "Exists")), {"alpha"}),
        (
            where(f("Metrics.auc", "GreaterThan", "0.85"), f("TrainingJobStatus", "Equals", "Failed"), operator="Or"),
            {"alpha", "delta"},
        ),
        (
            {
                "SubExpressions": [
                    where(f("Metrics.auc", "LessThan", "0.75")),
                    where(f("HyperParameters.max_depth", "Equals", "2")),
                ],
                "Operator": "Or",
            },
            {"beta", "gamma"},
        ),
        (
            {
                "Filters": [f("TrainingJobStatus", "Equals", "Completed")],
                "SubExpressions": [
                    where(f("Metrics.auc", "LessThan", "0.75"), f("Metrics.auc", "GreaterThan", "0.85"), operator="Or")
                ],
            },
            {"alpha", "beta"},
        ),
    ],
)
def test_filters_select_training_jobs(jobs, expression, expected):
    out = search(jobs, Resource="TrainingJob", SearchExpression=expression, MaxResults=100)
    assert set(names(out)) == expected
    assert out["TotalHits"] == {"Value": len(expected), "Relation": "EqualTo"}


def test_nested_filters_need_one_element_to_satisfy_them_all(tmp_path):
    backend, _ = fake_backend(tmp_path, lambda h: [1.0])
    channel = definition()["InputDataConfig"][0]
    other = {
        "ChannelName": "validation",
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/v"}},
    }
    finished_job(backend, "two-channels", {}, {}, InputDataConfig=[channel, other])
    finished_job(backend, "one-channel", {}, {})

    def nested(*filters):
        return {"NestedFilters": [{"NestedPropertyName": "InputDataConfig", "Filters": list(filters)}]}

    uri = "InputDataConfig.DataSource.S3DataSource.S3Uri"
    both = search(
        backend,
        Resource="TrainingJob",
        SearchExpression=nested(f("InputDataConfig.ChannelName", "Equals", "validation"), f(uri, "Contains", "b/v")),
    )
    assert names(both) == ["two-channels"]
    # the validation channel's name with the train channel's URI: no one channel has both
    crossed = search(
        backend,
        Resource="TrainingJob",
        SearchExpression=nested(f("InputDataConfig.ChannelName", "Equals", "validation"), f(uri, "Contains", "b/t")),
    )
    assert names(crossed) == []
    # a plain filter on the list property matches any element
    plain = search(
        backend, Resource="TrainingJob", SearchExpression=where(f("InputDataConfig.ChannelName", "Equals", "train"))
    )
    assert set(names(plain)) == {"two-channels", "one-channel"}


def test_sort_by_a_metric_puts_jobs_without_it_last_in_either_order(jobs):
    down = search(jobs, Resource="TrainingJob", SortBy="Metrics.loss", SortOrder="Descending")
    up = search(jobs, Resource="TrainingJob", SortBy="Metrics.loss", SortOrder="Ascending")
    assert names(down)[:2] == ["alpha", "beta"]  # 10 before 9: numbers, not text
    assert names(up)[:2] == ["beta", "alpha"]
    assert set(names(down)[2:]) == set(names(up)[2:]) == {"gamma", "delta"}


def test_sort_defaults_to_last_modified_time_descending_and_takes_other_properties(jobs):
    assert names(search(jobs, Resource="TrainingJob")) == ["delta", "gamma", "beta", "alpha"]
    assert names(search(jobs, Resource="TrainingJob", SortBy="CreationTime", SortOrder="Ascending")) == [
        "alpha",
        "beta",
        "gamma",
        "delta",
    ]
    assert names(search(jobs, Resource="TrainingJob", SortBy="TrainingJobName", SortOrder="Ascending")) == [
        "alpha",
        "beta",
        "delta",
        "gamma",
    ]
    by_depth = search(jobs, Resource="TrainingJob", SortBy="HyperParameters.max_depth", SortOrder="Ascending")
    assert names(by_depth) == ["gamma", "beta", "alpha", "delta"]  # 2, 4, 10 as numbers; "six" after them


def test_pages_cover_every_match_once(jobs):
    seen, token, pages = [], None, 0
    while True:
        params: dict[str, Any] = {"Resource": "TrainingJob", "MaxResults": 3, "SortBy": "CreationTime"}
        if token:
            params["NextToken"] = token
        out = search(jobs, **params)
        seen += names(out)
        pages += 1
        assert out["TotalHits"]["Value"] == 4
        token = out.get("NextToken")
        if not token:
            break
    assert pages == 2
    assert seen == ["delta", "gamma", "beta", "alpha"]
    with pytest.raises(ValidationException, match="NextToken"):
        search(jobs, Resource="TrainingJob", NextToken="not-a-token")


def test_a_training_job_record_has_the_search_shape_not_the_describe_one(jobs):
    finished_job(jobs, "debug", {"auc": 0.5}, {}, RemoteDebugConfig={"EnableRemoteDebug": False})
    assert "RemoteDebugConfig" in jobs.describe_training_job({"TrainingJobName": "debug"})
    out = search(jobs, Resource="TrainingJob", SearchExpression=where(f("TrainingJobName", "Equals", "debug")))
    record = out["Results"][0]["TrainingJob"]
    assert "RemoteDebugConfig" not in record
    assert record["FinalMetricDataList"][0]["MetricName"] == "auc"
    tagged = search(jobs, Resource="TrainingJob", SearchExpression=where(f("TrainingJobName", "Equals", "beta")))
    assert tagged["Results"][0]["TrainingJob"]["Tags"] == [{"Key": "team", "Value": "flights"}]


def rising_to_x(hyperparameters: dict[str, str]) -> list[float | None]:
    x = float(hyperparameters["x"])
    return [x * (step / 3) for step in range(1, 4)]


def test_the_best_training_job_across_a_models_tuning_jobs(tmp_path):
    backend, launcher = fake_backend(tmp_path, rising_to_x)
    bests = []
    for name in ("flights-a", "flights-b"):
        request = tuning_request(name, max_jobs=4)
        request["HyperParameterTuningJobConfig"]["RandomSeed"] = len(bests) + 3
        backend.create_hyper_parameter_tuning_job(request)
        bests.append(run_tuning(backend, launcher, name)["BestTrainingJob"])
    finished_job(backend, "unrelated", {"objective": 5.0}, {})  # better, but of no tuning job of the model
    best = max(bests, key=lambda b: b["FinalHyperParameterTuningJobObjectiveMetric"]["Value"])

    out = search(
        backend,
        Resource="TrainingJob",
        SearchExpression=where(f("TuningJobArn", "Contains", ":hyper-parameter-tuning-job/flights-")),
        SortBy="Metrics.objective",
        SortOrder="Descending",
        MaxResults=1,
    )
    top = out["Results"][0]["TrainingJob"]
    assert top["TrainingJobName"] == best["TrainingJobName"]
    assert out["TotalHits"]["Value"] == 8
    objective = {m["MetricName"]: m["Value"] for m in top["FinalMetricDataList"]}["objective"]
    assert objective == best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]

    tunings = search(
        backend,
        Resource="HyperParameterTuningJob",
        SearchExpression=where(
            f("HyperParameterTuningJobName", "Contains", "flights-"),
            f("HyperParameterTuningJobStatus", "Equals", "Completed"),
        ),
        SortBy="BestTrainingJob.FinalHyperParameterTuningJobObjectiveMetric.Value",
    )
    assert len(tunings["Results"]) == 2
    first = tunings["Results"][0]["HyperParameterTuningJob"]
    assert first["BestTrainingJob"]["TrainingJobName"] == best["TrainingJobName"]
    assert first["TrainingJobStatusCounters"]["Completed"] == 4
    worse = search(
        backend,
        Resource="HyperParameterTuningJob",
        SearchExpression=where(
            f(
                "BestTrainingJob.FinalHyperParameterTuningJobObjectiveMetric.Value",
                "LessThan",
                str(best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]),
            )
        ),
    )
    assert names(worse) == [n for n in ("flights-a", "flights-b") if n != first["HyperParameterTuningJobName"]]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"Resource": "Endpoint"}, "Endpoint is not supported"),
        ({"Resource": "ExperimentTrialComponent"}, "ExperimentTrialComponent is not supported"),
        ({"Resource": "TrainingJob", "VisibilityConditions": [{"Key": "k", "Value": "v"}]}, "VisibilityConditions"),
        ({"Resource": "TrainingJob", "CrossAccountFilterOption": "CrossAccount"}, "CrossAccountFilterOption"),
        ({"Resource": "TrainingJob", "SearchExpression": {}}, "at least one of Filters"),
        ({"Resource": "TrainingJob", "SearchExpression": {"Operator": "Or"}}, "at least one of Filters"),
        ({"Resource": "TrainingJob", "SearchExpression": where(f("Nope", "Equals", "x"))}, "Nope is not a property"),
        ({"Resource": "TrainingJob", "SortBy": "ResourceConfig.Nope"}, r"SortBy: ResourceConfig.Nope is not a"),
        ({"Resource": "TrainingJob", "SortBy": "ResourceConfig"}, "not a single value"),
        ({"Resource": "TrainingJob", "SortBy": "InputDataConfig.ChannelName"}, "not a single value"),
        (
            {"Resource": "HyperParameterTuningJob", "SearchExpression": where(f("Metrics.auc", "Exists"))},
            "Metrics.auc is not a property",
        ),
        ({"Resource": "TrainingJob", "SearchExpression": where(f("TrainingJobName", "GreaterThan", "a"))}, "numeric"),
        ({"Resource": "TrainingJob", "SearchExpression": where(f("Metrics.auc", "Contains", "9"))}, "text properties"),
        ({"Resource": "TrainingJob", "SearchExpression": where(f("Metrics.auc", "Equals", "high"))}, "not a number"),
        ({"Resource": "TrainingJob", "SearchExpression": where(f("CreationTime", "LessThan", "May 1"))}, "timestamp"),
        ({"Resource": "TrainingJob", "SearchExpression": where(f("EnableNetworkIsolation", "Equals", "yes"))}, "true"),
        ({"Resource": "TrainingJob", "SearchExpression": where(f("FailureReason", "Exists", "x"))}, "takes no Value"),
        ({"Resource": "TrainingJob", "SearchExpression": where(f("FailureReason", "Equals"))}, "Value is required"),
        ({"Resource": "TrainingJob", "SearchExpression": where(f("ResourceConfig", "Equals", "x"))}, "an object"),
        (
            {
                "Resource": "TrainingJob",
                "SearchExpression": where(f("TrainingJobName", "Contains", "a"), f("TuningJobArn", "Contains", "b")),
            },
            "'CONTAINS' operator usage limit of 1 exceeded",
        ),
        (
            {
                "Resource": "TrainingJob",
                "SearchExpression": {"SubExpressions": [where(*[f("TrainingJobName", "Exists")] * 10)] * 5},
            },
            "at most 50",
        ),
        (
            {
                "Resource": "TrainingJob",
                "SearchExpression": {
                    "NestedFilters": [
                        {
                            "NestedPropertyName": "ResourceConfig",
                            "Filters": [f("ResourceConfig.InstanceType", "Exists")],
                        }
                    ]
                },
            },
            "not a list of objects",
        ),
        (
            {
                "Resource": "TrainingJob",
                "SearchExpression": {
                    "NestedFilters": [
                        {"NestedPropertyName": "InputDataConfig", "Filters": [f("ChannelName", "Exists")]}
                    ]
                },
            },
            "must start with InputDataConfig.",
        ),
    ],
)
def test_requests_it_cannot_answer_are_refused_naming_what(jobs, params, message):
    with pytest.raises(ValidationException, match=message):
        search(jobs, **params)


def test_no_expression_returns_every_resource_of_the_kind(jobs):
    assert search(jobs, Resource="TrainingJob")["TotalHits"]["Value"] == 4
    assert search(jobs, Resource="HyperParameterTuningJob") == {
        "Results": [],
        "TotalHits": {"Value": 0, "Relation": "EqualTo"},
    }

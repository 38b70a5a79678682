"""Every implemented operation's real responses validate against botocore's output shapes.

A recording client captures each parsed response; botocore's own ParamValidator then checks it against the
operation's output shape (unknown members, missing required members, wrong types). The test fails if an
implemented operation was not exercised, so a new operation must come with its shape check.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from botocore.validate import ParamValidator

from harness.local_sagemaker import (
    XGBOOST_IMAGE,
    training_request,
    unique,
    wait_for_endpoint,
    wait_for_job,
    wait_for_tuning,
)
from include.local_sagemaker.models.backend import SageMakerBackend
from include.local_sagemaker.protocol import operation_model, service_model

IMPLEMENTED = sorted(
    op
    for op in service_model().operation_names
    if hasattr(SageMakerBackend, re.sub(r"(?<!^)(?=[A-Z])", "_", op).lower())
)


def shape_errors(operation: str, response: dict[str, Any], service: str = "sagemaker") -> str:
    body = {k: v for k, v in response.items() if k != "ResponseMetadata"}
    shape = operation_model(operation, service).output_shape
    if shape is None:
        return "" if not body else f"{operation} has no output shape but answered {body}"
    report = ParamValidator().validate(body, shape)
    return report.generate_report() if report.has_errors() else ""


@pytest.fixture(scope="module")
def recorded(local_sagemaker, bucket, channels) -> dict[str, list[dict[str, Any]]]:
    sm = local_sagemaker.client("sagemaker")
    calls: dict[str, list[dict[str, Any]]] = {}

    def record(http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if http_response.status_code == 200:
            calls.setdefault(model.name, []).append(parsed)

    sm.meta.events.register("after-call.sagemaker", record)
    name = unique("shapes")
    tags = [{"Key": "project", "Value": "hpo"}]
    sm.create_training_job(**training_request(name, channels, f"s3://{bucket}/out"), Tags=tags)
    sm.describe_training_job(TrainingJobName=name)  # while InProgress
    job = wait_for_job(sm, name)
    sm.list_training_jobs(NameContains=name)
    sm.create_model(
        ModelName=name,
        PrimaryContainer={"Image": XGBOOST_IMAGE, "ModelDataUrl": job["ModelArtifacts"]["S3ModelArtifacts"]},
        ExecutionRoleArn="arn:aws:iam::123456789012:role/SageMakerRole",
    )
    sm.describe_model(ModelName=name)
    sm.list_models(NameContains=name)
    variant = {"VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant])
    sm.create_endpoint_config(EndpointConfigName=f"{name}-b", ProductionVariants=[variant])
    sm.describe_endpoint_config(EndpointConfigName=name)
    sm.list_endpoint_configs(NameContains=name)
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    sm.describe_endpoint(EndpointName=name)  # while Creating
    wait_for_endpoint(sm, name)
    sm.update_endpoint(EndpointName=name, EndpointConfigName=f"{name}-b")
    wait_for_endpoint(sm, name)
    sm.list_endpoints(NameContains=name)
    sm.add_tags(ResourceArn=job["TrainingJobArn"], Tags=[{"Key": "stage", "Value": "test"}])
    sm.list_tags(ResourceArn=job["TrainingJobArn"])
    sm.delete_tags(ResourceArn=job["TrainingJobArn"], TagKeys=["stage"])
    stopped = unique("shapes-stop")
    sm.create_training_job(**training_request(stopped, channels, f"s3://{bucket}/out"))
    sm.stop_training_job(TrainingJobName=stopped)
    wait_for_job(sm, stopped)
    tuning = _tuning_request(f"{name[:20]}-hpo", channels, bucket)
    sm.create_hyper_parameter_tuning_job(**tuning, Tags=tags)
    sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=tuning["HyperParameterTuningJobName"])
    wait_for_tuning(sm, tuning["HyperParameterTuningJobName"])
    sm.list_hyper_parameter_tuning_jobs(NameContains=name[:20])
    for sort in ("FinalObjectiveMetricValue", "Name", "CreationTime", "Status"):
        sm.list_training_jobs_for_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=tuning["HyperParameterTuningJobName"], SortBy=sort
        )
    child = _tuning_request(f"{name[:20]}-warm", channels, bucket)
    child["WarmStartConfig"] = {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": tuning["HyperParameterTuningJobName"]}],
        "WarmStartType": "IdenticalDataAndAlgorithm",
    }
    sm.create_hyper_parameter_tuning_job(**child)
    sm.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=child["HyperParameterTuningJobName"])
    wait_for_tuning(sm, child["HyperParameterTuningJobName"])
    sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=child["HyperParameterTuningJobName"])
    _search(sm, name, tuning["HyperParameterTuningJobName"])
    sm.delete_hyper_parameter_tuning_job(HyperParameterTuningJobName=child["HyperParameterTuningJobName"])
    sm.delete_endpoint(EndpointName=name)
    sm.delete_endpoint_config(EndpointConfigName=f"{name}-b")
    sm.delete_endpoint_config(EndpointConfigName=name)
    sm.delete_model(ModelName=name)
    return calls


def _search(sm: Any, job: str, tuning: str) -> None:
    """Search's records, non-empty so that their shapes are checked: a tagged training job, a tuning job's training
    jobs, and tuning jobs (one warm-started)."""
    by_name = {"Filters": [{"Name": "TrainingJobName", "Value": job}]}
    arn = {"Filters": [{"Name": "TuningJobArn", "Operator": "Contains", "Value": f"/{tuning}"}]}
    prefix = {"Filters": [{"Name": "HyperParameterTuningJobName", "Operator": "Contains", "Value": tuning[:20]}]}
    found = [
        sm.search(Resource="TrainingJob", SearchExpression=by_name),
        sm.search(Resource="TrainingJob", SearchExpression=arn, SortBy="Metrics.validation:auc", MaxResults=1),
        sm.search(Resource="HyperParameterTuningJob", SearchExpression=prefix),
    ]
    assert [len(out["Results"]) for out in found] == [1, 1, 2]
    assert found[0]["Results"][0]["TrainingJob"]["Tags"] == [{"Key": "project", "Value": "hpo"}]


def _tuning_request(name: str, channels: dict[str, str], bucket: str) -> dict[str, Any]:
    job = training_request("unused", channels, f"s3://{bucket}/out")
    definition = {
        k: job[k]
        for k in (
            "AlgorithmSpecification",
            "RoleArn",
            "InputDataConfig",
            "OutputDataConfig",
            "ResourceConfig",
            "StoppingCondition",
        )
    }
    definition["StaticHyperParameters"] = {"num_round": "4", "objective": "binary:logistic", "eval_metric": "auc"}
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random",
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 2, "MaxParallelTrainingJobs": 2},
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "validation:auc"},
            "ParameterRanges": {"IntegerParameterRanges": [{"Name": "max_depth", "MinValue": "2", "MaxValue": "5"}]},
        },
        "TrainingJobDefinition": definition,
    }


def test_every_implemented_operation_was_exercised(recorded):
    assert sorted(recorded) == IMPLEMENTED


@pytest.mark.parametrize("operation", IMPLEMENTED)
def test_responses_match_the_botocore_output_shape(recorded, operation):
    for response in recorded[operation]:
        assert shape_errors(operation, response) == ""


def test_the_shape_check_catches_a_wrong_field(recorded):
    good = recorded["DescribeTrainingJob"][-1]
    assert shape_errors("DescribeTrainingJob", good) == ""
    assert "Unknown parameter" in shape_errors("DescribeTrainingJob", {**good, "InternalState": {"pids": [1]}})
    assert "Invalid type" in shape_errors("DescribeTrainingJob", {**good, "TrainingTimeInSeconds": "12"})
    missing = {k: v for k, v in good.items() if k != "SecondaryStatus"}
    assert "Missing required parameter" in shape_errors("DescribeTrainingJob", missing)


def test_invoke_endpoint_response_matches_the_runtime_shape(local_sagemaker, sm, bucket, channels):
    runtime = local_sagemaker.client("sagemaker-runtime")
    name = unique("shapes-rt")
    sm.create_training_job(**training_request(name, channels, f"s3://{bucket}/out"))
    job = wait_for_job(sm, name)
    sm.create_model(
        ModelName=name,
        PrimaryContainer={"Image": XGBOOST_IMAGE, "ModelDataUrl": job["ModelArtifacts"]["S3ModelArtifacts"]},
        ExecutionRoleArn="arn:aws:iam::123456789012:role/SageMakerRole",
    )
    variant = {"VariantName": "blue", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    assert wait_for_endpoint(sm, name)["EndpointStatus"] == "InService"
    response = runtime.invoke_endpoint(EndpointName=name, ContentType="text/csv", Body=b"0.5,0.1,0,0")
    response["Body"] = response["Body"].read()
    assert 0.0 <= float(response["Body"]) <= 1.0
    assert response["InvokedProductionVariant"] == "blue"
    assert shape_errors("InvokeEndpoint", response, "sagemaker-runtime") == ""
    sm.delete_endpoint(EndpointName=name)

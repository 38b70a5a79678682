"""Bad input is refused before anything runs, with AWS's error codes and a message naming the field."""

from __future__ import annotations

import io
import tarfile

import pytest
from botocore.exceptions import ClientError

from harness.local_sagemaker import training_request, unique, upload_source, wait_for_job


def error_of(call, **kwargs) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    error = caught.value.response["Error"]
    return error["Code"], error["Message"], caught.value.response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.mark.parametrize("name", ["has_underscore", "-leading-dash", "x" * 64, "trailing-"])
def test_bad_training_job_names_are_validation_exceptions_naming_the_field(sm, bucket, channels, name):
    # boto3 validates lengths client-side; send the request as another client would, unchecked.
    request = training_request(name, channels, f"s3://{bucket}/out")
    code, message, status = error_of(_unvalidated(sm).create_training_job, **request)
    assert (code, status) == ("ValidationException", 400)
    assert "trainingJobName" in message


def _unvalidated(client):
    import boto3
    from botocore.config import Config

    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=client.meta.region_name
    ).client(
        "sagemaker",
        endpoint_url=client.meta.endpoint_url,
        config=Config(parameter_validation=False),
    )


def test_duplicate_training_job_name_is_resource_in_use(sm, bucket, channels):
    name = unique("dup")
    sm.create_training_job(**training_request(name, channels, f"s3://{bucket}/out"))
    code, message, _ = error_of(sm.create_training_job, **training_request(name, channels, f"s3://{bucket}/out"))
    assert code == "ResourceInUse"
    assert name in message
    wait_for_job(sm, name)


def test_describing_missing_resources_answers_as_aws_does(sm):
    assert error_of(sm.describe_training_job, TrainingJobName="no-such-job")[:2] == (
        "ValidationException",
        "Requested resource not found.",
    )
    code, message, _ = error_of(sm.describe_model, ModelName="no-such-model")
    assert code == "ValidationException" and message.startswith('Could not find model "arn:aws:sagemaker:')
    code, message, _ = error_of(sm.describe_endpoint, EndpointName="no-such-endpoint")
    assert code == "ValidationException" and "Could not find endpoint" in message
    code, message, _ = error_of(sm.describe_endpoint_config, EndpointConfigName="no-such-config")
    assert code == "ValidationException" and "Could not find endpoint configuration" in message
    code, _, _ = error_of(sm.add_tags, ResourceArn="arn:aws:sagemaker:us-east-1:123456789012:model/nope", Tags=[])
    assert code == "ResourceNotFound"


@pytest.mark.parametrize(
    ("stopping", "expected"),
    [
        ({"MaxRuntimeInSeconds": 600}, "StoppingCondition.MaxWaitTimeInSeconds is required"),
        ({"MaxRuntimeInSeconds": 600, "MaxWaitTimeInSeconds": 300}, "must be greater than or equal to"),
    ],
)
def test_spot_without_a_sufficient_max_wait_is_refused(sm, bucket, channels, stopping, expected):
    name = unique("spot")
    request = training_request(name, channels, f"s3://{bucket}/out", EnableManagedSpotTraining=True)
    request["StoppingCondition"] = stopping
    code, message, _ = error_of(sm.create_training_job, **request)
    assert code == "ValidationException" and expected in message
    assert name not in [j["TrainingJobName"] for j in sm.list_training_jobs(NameContains=name)["TrainingJobSummaries"]]


def test_max_wait_without_spot_is_refused(sm, bucket, channels):
    request = training_request(unique("nospot"), channels, f"s3://{bucket}/out")
    request["StoppingCondition"] = {"MaxRuntimeInSeconds": 60, "MaxWaitTimeInSeconds": 120}
    code, message, _ = error_of(sm.create_training_job, **request)
    assert code == "ValidationException" and "EnableManagedSpotTraining" in message


def test_metric_regex_without_a_capture_group_is_refused(sm, bucket, channels):
    request = training_request(
        unique("regex"),
        channels,
        f"s3://{bucket}/out",
        AlgorithmSpecification={"MetricDefinitions": [{"Name": "validation:auc", "Regex": "validation:auc=[0-9.]+"}]},
    )
    code, message, _ = error_of(sm.create_training_job, **request)
    assert code == "ValidationException"
    assert "MetricDefinitions.1.Regex" in message and "capture group" in message


def test_missing_channel_data_fails_the_job_naming_the_s3_url(sm, bucket):
    name = unique("nodata")
    missing = f"s3://{bucket}/nothing-here/"
    sm.create_training_job(**training_request(name, {"train": missing}, f"s3://{bucket}/out"))
    described = wait_for_job(sm, name)
    assert described["TrainingJobStatus"] == "Failed"
    assert "No S3 objects found under S3 URL" in described["FailureReason"]
    assert missing in described["FailureReason"] and "'train'" in described["FailureReason"]


def test_unsupported_image_fails_fast_naming_the_image_and_what_is_supported(sm, bucket, channels):
    name = unique("image")
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-own-container:latest"
    sm.create_training_job(**training_request(name, channels, f"s3://{bucket}/out", image=image))
    described = wait_for_job(sm, name, timeout=20)
    assert described["TrainingJobStatus"] == "Failed"
    assert image in described["FailureReason"]
    assert "sagemaker-xgboost" in described["FailureReason"]


@pytest.mark.parametrize(
    ("member", "kind"),
    [("../escape.py", tarfile.REGTYPE), ("/etc/evil.py", tarfile.REGTYPE), ("link.py", tarfile.SYMTYPE)],
)
def test_source_archives_that_escape_the_code_directory_fail_the_job(sm, s3, bucket, channels, member, kind):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        good = tarfile.TarInfo("train.py")
        good.size = 4
        tar.addfile(good, io.BytesIO(b"pass"))
        bad = tarfile.TarInfo(member)
        bad.type = kind
        if kind == tarfile.SYMTYPE:
            bad.linkname = "/etc/passwd"
        else:
            bad.size = 4
        tar.addfile(bad, io.BytesIO(b"pass") if kind != tarfile.SYMTYPE else None)
    key = f"code/{unique('evil')}.tar.gz"
    s3.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())
    name = unique("traversal")
    request = training_request(
        name,
        channels,
        f"s3://{bucket}/out",
        hyperparameters={"sagemaker_program": "train.py", "sagemaker_submit_directory": f"s3://{bucket}/{key}"},
    )
    sm.create_training_job(**request)
    described = wait_for_job(sm, name)
    assert described["TrainingJobStatus"] == "Failed"
    assert "unsafe" in described["FailureReason"] and member in described["FailureReason"]


def test_missing_program_in_the_source_archive_fails_naming_it(sm, s3, bucket, channels):
    code = upload_source(s3, bucket, {"other.py": b"pass"}, f"code/{unique('noprog')}.tar.gz")
    name = unique("noprog")
    request = training_request(
        name,
        channels,
        f"s3://{bucket}/out",
        hyperparameters={"sagemaker_program": "train.py", "sagemaker_submit_directory": code},
    )
    sm.create_training_job(**request)
    described = wait_for_job(sm, name)
    assert described["TrainingJobStatus"] == "Failed"
    assert "'train.py'" in described["FailureReason"]


def test_endpoint_config_for_a_missing_model_is_refused(sm):
    code, message, _ = error_of(
        sm.create_endpoint_config,
        EndpointConfigName=unique("cfg"),
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "ghost-model",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    assert code == "ValidationException" and "ghost-model" in message

"""Endpoints really serve: the training script's inference functions behind InvokeEndpoint, blue/green updates."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from harness.local_sagemaker import (
    ROLE,
    XGBOOST_IMAGE,
    training_request,
    unique,
    upload_source,
    wait_for_endpoint,
    wait_for_job,
)
from tests.specs import FLIGHT_METRIC_DEFINITIONS

TRAIN_SCRIPT = Path(__file__).resolve().parents[2] / "training_scripts" / "flight_delay" / "train.py"


@pytest.fixture(scope="module")
def script_model(sm, s3, bucket, channels) -> dict[str, str]:
    """A model trained by training_scripts/flight_delay/train.py and served by the same file's inference functions."""
    code = upload_source(s3, bucket, {"train.py": TRAIN_SCRIPT}, "code/endpoints/sourcedir.tar.gz")
    name = unique("served")
    sm.create_training_job(
        **training_request(
            name,
            channels,
            f"s3://{bucket}/output",
            hyperparameters={
                "num_round": "5",
                "max_depth": "3",
                "sagemaker_program": "train.py",
                "sagemaker_submit_directory": code,
            },
            AlgorithmSpecification={"MetricDefinitions": FLIGHT_METRIC_DEFINITIONS},
        )
    )
    job = wait_for_job(sm, name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    models = {}
    for depth in ("a", "b"):
        model = f"{name}-{depth}"
        sm.create_model(
            ModelName=model,
            PrimaryContainer={
                "Image": XGBOOST_IMAGE,
                "ModelDataUrl": job["ModelArtifacts"]["S3ModelArtifacts"],
                "Environment": {"SAGEMAKER_PROGRAM": "train.py", "SAGEMAKER_SUBMIT_DIRECTORY": code},
            },
            ExecutionRoleArn=ROLE,
        )
        models[depth] = model
    return models


def endpoint_config(sm, model: str, variant: str = "AllTraffic") -> str:
    name = unique("cfg")
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {"VariantName": variant, "ModelName": model, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
        ],
    )
    return name


def test_script_mode_endpoint_uses_the_scripts_inference_functions(sm, sm_runtime, script_model):
    name = unique("ep")
    sm.create_endpoint(EndpointName=name, EndpointConfigName=endpoint_config(sm, script_model["a"]))
    assert sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "Creating"
    described = wait_for_endpoint(sm, name)
    assert described["EndpointStatus"] == "InService", described.get("FailureReason")
    assert described["ProductionVariants"][0]["CurrentInstanceCount"] == 1

    csv = sm_runtime.invoke_endpoint(EndpointName=name, ContentType="text/csv", Body="2,1,0,0\n-2,-1,0,0")
    probabilities = [float(line) for line in csv["Body"].read().decode().splitlines()]
    assert len(probabilities) == 2 and probabilities[0] > probabilities[1]
    as_json = sm_runtime.invoke_endpoint(
        EndpointName=name,
        ContentType="application/json",
        Accept="application/json",
        Body=json.dumps({"instances": [[2, 1, 0, 0], [-2, -1, 0, 0]]}),
    )
    assert as_json["ContentType"].startswith("application/json")
    assert json.loads(as_json["Body"].read())["predictions"] == pytest.approx(probabilities, rel=1e-5)

    with pytest.raises(ClientError) as caught:
        sm_runtime.invoke_endpoint(EndpointName=name, ContentType="image/png", Body=b"\x89PNG")
    assert caught.value.response["Error"]["Code"] == "ModelError"
    assert "image/png" in caught.value.response["Error"]["Message"]
    sm.delete_endpoint(EndpointName=name)
    with pytest.raises(ClientError) as caught:
        sm_runtime.invoke_endpoint(EndpointName=name, ContentType="text/csv", Body="1,1,0,0")
    assert caught.value.response["Error"]["Code"] == "ValidationError"


def test_update_endpoint_is_blue_green_no_invocation_fails(sm, sm_runtime, script_model):
    name = unique("bluegreen")
    sm.create_endpoint(EndpointName=name, EndpointConfigName=endpoint_config(sm, script_model["a"], "blue"))
    assert wait_for_endpoint(sm, name)["EndpointStatus"] == "InService"
    failures: list[str] = []
    variants: list[str] = []
    done = threading.Event()

    def invoke_continuously() -> None:
        while not done.is_set():
            try:
                reply = sm_runtime.invoke_endpoint(EndpointName=name, ContentType="text/csv", Body="1,0,0,0")
                reply["Body"].read()
                variants.append(reply["InvokedProductionVariant"])
            except ClientError as exc:
                failures.append(str(exc))

    caller = threading.Thread(target=invoke_continuously)
    caller.start()
    try:
        green = endpoint_config(sm, script_model["b"], "green")
        sm.update_endpoint(EndpointName=name, EndpointConfigName=green)
        assert sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "Updating"
        described = wait_for_endpoint(sm, name)
        # keep calling a moment after the switch, while the old processes drain and stop
        for _ in range(20):
            if variants.count("green") >= 5:
                break
            threading.Event().wait(0.1)
    finally:
        done.set()
        caller.join()
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == green
    assert failures == []
    assert "blue" in variants and variants[-1] == "green"
    assert variants.index("green") > variants.index("blue")
    assert "blue" not in variants[variants.index("green") :]
    sm.delete_endpoint(EndpointName=name)


def test_a_failed_update_rolls_back_and_keeps_serving(sm, sm_runtime, s3, bucket, script_model):
    name = unique("rollback")
    blue = endpoint_config(sm, script_model["a"])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=blue)
    assert wait_for_endpoint(sm, name)["EndpointStatus"] == "InService"
    broken = unique("broken")
    s3.put_object(Bucket=bucket, Key=f"broken/{broken}.tar.gz", Body=b"this is not a tarball")
    sm.create_model(
        ModelName=broken,
        PrimaryContainer={"Image": XGBOOST_IMAGE, "ModelDataUrl": f"s3://{bucket}/broken/{broken}.tar.gz"},
        ExecutionRoleArn=ROLE,
    )
    sm.update_endpoint(EndpointName=name, EndpointConfigName=endpoint_config(sm, broken))
    described = wait_for_endpoint(sm, name)
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == blue
    assert "rolled back" in described["FailureReason"] and broken in described["FailureReason"]
    reply = sm_runtime.invoke_endpoint(EndpointName=name, ContentType="text/csv", Body="1,0,0,0")
    assert 0.0 <= float(reply["Body"].read()) <= 1.0
    sm.delete_endpoint(EndpointName=name)


def test_an_unservable_image_fails_the_endpoint_with_a_reason(sm, script_model):
    model = unique("alien")
    sm.create_model(ModelName=model, PrimaryContainer={"Image": "alien/image:1"}, ExecutionRoleArn=ROLE)
    name = unique("alien-ep")
    sm.create_endpoint(EndpointName=name, EndpointConfigName=endpoint_config(sm, model))
    described = wait_for_endpoint(sm, name)
    assert described["EndpointStatus"] == "Failed"
    assert "alien/image:1" in described["FailureReason"]
    with pytest.raises(ClientError, match="Cannot update"):
        sm.update_endpoint(EndpointName=name, EndpointConfigName=endpoint_config(sm, script_model["a"]))
    sm.delete_endpoint(EndpointName=name)


def test_the_containers_environment_reaches_the_inference_code(sm, s3, sm_runtime, bucket, script_model):
    """On AWS the model's container Environment is the serving container's environment; the inference code may read
    it (as SAGEMAKER_PROGRAM is read by the toolkit). Here too: the worker process starts with it."""
    probe = b"""import os

def model_fn(model_dir):
    return os.environ.get("GREETING", "unset") + " / " + os.environ.get("OMP_WAIT_POLICY", "unset")

def predict_fn(data, model):
    return model

def output_fn(prediction, accept):
    return prediction
"""
    code = upload_source(s3, bucket, {"probe.py": probe}, "code/env-probe.tar.gz")
    source = sm.describe_model(ModelName=script_model["a"])["PrimaryContainer"]
    model = unique("env-model")
    sm.create_model(
        ModelName=model,
        PrimaryContainer={
            "Image": source["Image"],
            "ModelDataUrl": source["ModelDataUrl"],
            "Environment": {"SAGEMAKER_PROGRAM": "probe.py", "SAGEMAKER_SUBMIT_DIRECTORY": code, "GREETING": "hello"},
        },
        ExecutionRoleArn=ROLE,
    )
    name = unique("env-ep")
    sm.create_endpoint(EndpointName=name, EndpointConfigName=endpoint_config(sm, model))
    try:
        described = wait_for_endpoint(sm, name)
        assert described["EndpointStatus"] == "InService", described.get("FailureReason")
        answer = sm_runtime.invoke_endpoint(EndpointName=name, Body=b"1,2,3", ContentType="text/csv")
        assert answer["Body"].read() == b"hello / PASSIVE"
    finally:
        sm.delete_endpoint(EndpointName=name)

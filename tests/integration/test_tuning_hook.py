"""TuningHook, the tuning operator's SageMaker calls, against the local SageMaker (which answers as the real API:
ResourceNotFound for a missing tuning job, ValidationException for stopping one that has ended)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from harness.local_sagemaker import ASSETS, upload_source, wait_for_tuning, wait_until
from tests.tuning_helpers import curve_definition, new_name, tuning_request


@pytest.fixture(scope="module")
def curve(s3, bucket, channels) -> dict[str, Any]:
    code = upload_source(s3, bucket, {"curve.py": ASSETS / "curve.py"}, "code/hook-curve/sourcedir.tar.gz")
    return curve_definition(code, channels["train"], f"s3://{bucket}/hook", {"epochs": "3"})


@pytest.fixture(scope="module")
def hook(local_sagemaker) -> Any:
    from hpo_sagemaker.hooks import TuningHook

    return TuningHook(aws_conn_id="aws_default")  # the connection points at the local SageMaker


def first_created(sm: Any, tuning_job_name: str) -> str:
    listed = sm.list_training_jobs_for_hyper_parameter_tuning_job(HyperParameterTuningJobName=tuning_job_name)
    return min(listed["TrainingJobSummaries"], key=lambda s: s["CreationTime"])["TrainingJobName"]


def test_a_tuning_job_from_missing_to_completed(sm, hook, curve):
    name = new_name()
    assert hook.describe_tuning_job_or_none(name) is None

    config = {**tuning_request(name, curve, max_jobs=3, parallel=2), "Tags": [{"Key": "config-hash", "Value": "abc"}]}
    hook.start_tuning_job(config)
    described = hook.describe_tuning_job_or_none(name)
    assert described is not None and described["HyperParameterTuningJobName"] == name
    assert hook.tag_value(described["HyperParameterTuningJobArn"], "config-hash") == "abc"
    assert hook.tag_value(described["HyperParameterTuningJobArn"], "absent") is None

    assert wait_for_tuning(sm, name)["HyperParameterTuningJobStatus"] == "Completed"
    first = hook.first_training_job(name)
    assert first is not None and first["TrainingJobName"] == first_created(sm, name)
    # A DescribeTrainingJob answer (a list summary has no StoppingCondition): what the spot check reads.
    assert first["StoppingCondition"] == curve["StoppingCondition"]
    best = hook.describe_tuning_job_or_none(name)["BestTrainingJob"]["TrainingJobName"]
    artifact = hook.model_artifact(best)
    assert artifact == sm.describe_training_job(TrainingJobName=best)["ModelArtifacts"]["S3ModelArtifacts"]
    assert artifact.endswith(f"{best}/output/model.tar.gz")
    assert "Completed" in hook.stop_tuning_job(name)  # nothing to stop: why not, instead of an error


def test_stopping_a_running_tuning_job(sm, hook, curve):
    name = new_name()
    long = {**curve, "StaticHyperParameters": {**curve["StaticHyperParameters"], "epochs": "300"}}
    hook.start_tuning_job(tuning_request(name, long, max_jobs=2, parallel=1))
    first = wait_until(lambda: hook.first_training_job(name), lambda child: child is not None, "a first training job")
    assert first["TrainingJobName"] == first_created(sm, name)

    assert hook.stop_tuning_job(name) is None
    assert wait_for_tuning(sm, name)["HyperParameterTuningJobStatus"] == "Stopped"
    assert "Stopped" in hook.stop_tuning_job(name)
    with pytest.raises(ClientError, match="ResourceNotFound"):  # not "already ended": the caller must hear of it
        hook.stop_tuning_job(new_name())

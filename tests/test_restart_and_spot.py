"""Durability and managed spot, each on a private local SageMaker process that the test kills or configures."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from include.local_sagemaker.runner.training import SpotSettings
from tests.local_sagemaker import (
    ASSETS,
    ROLE,
    XGBOOST_IMAGE,
    LocalSageMakerProcess,
    synthetic_csv,
    training_request,
    unique,
    upload_source,
    wait_for_endpoint,
    wait_for_job,
    wait_for_tuning,
    wait_until,
)

BUCKET = "durability"
OBJECTIVE = [{"Name": "objective", "Regex": r"objective=([0-9.]+);"}]


def slow_job(name: str, code: str, steps: int = 20, checkpoint: bool = True, **extra: Any) -> dict[str, Any]:
    request = training_request(
        name,
        {"train": f"s3://{BUCKET}/data/train/"},
        f"s3://{BUCKET}/output",
        hyperparameters={
            "steps": str(steps),
            "sagemaker_program": "slow_checkpointer.py",
            "sagemaker_submit_directory": code,
        },
        AlgorithmSpecification={"MetricDefinitions": OBJECTIVE},
        **extra,
    )
    if checkpoint:
        request["CheckpointConfig"] = {"S3Uri": f"s3://{BUCKET}/checkpoints/{name}"}
    return request


def seed_bucket(server: LocalSageMakerProcess) -> str:
    s3 = server.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="data/train/part-0.csv", Body=synthetic_csv().encode())
    return upload_source(s3, BUCKET, {"slow_checkpointer.py": ASSETS / "slow_checkpointer.py"}, "code/slow.tar.gz")


def model_txt(s3: Any, job: dict[str, Any]) -> dict[str, Any]:
    bucket, key = job["ModelArtifacts"]["S3ModelArtifacts"][len("s3://") :].split("/", 1)
    with tarfile.open(fileobj=io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())) as tar:
        return json.loads(tar.extractfile("model.txt").read())


def test_kill_9_loses_nothing_and_running_jobs_resume_or_fail_clearly(tmp_path):
    state = tmp_path / "state"
    first = LocalSageMakerProcess(state).start()
    try:
        code = seed_bucket(first)
        sm, s3 = first.client("sagemaker"), first.client("s3")
        # Finished before the crash: a job, its model, an endpoint.
        done = unique("done")
        sm.create_training_job(
            **training_request(done, {"train": f"s3://{BUCKET}/data/train/"}, f"s3://{BUCKET}/output")
        )
        finished = wait_for_job(sm, done)
        sm.create_model(
            ModelName=done,
            PrimaryContainer={"Image": XGBOOST_IMAGE, "ModelDataUrl": finished["ModelArtifacts"]["S3ModelArtifacts"]},
            ExecutionRoleArn=ROLE,
        )
        variant = {
            "VariantName": "AllTraffic",
            "ModelName": done,
            "InitialInstanceCount": 1,
            "InstanceType": "ml.m5.large",
        }
        sm.create_endpoint_config(EndpointConfigName=done, ProductionVariants=[variant])
        sm.create_endpoint(EndpointName=done, EndpointConfigName=done)
        assert wait_for_endpoint(sm, done)["EndpointStatus"] == "InService"
        # Running at the crash: one job with checkpoints, one without.
        resumable, doomed = unique("resumable"), unique("doomed")
        sm.create_training_job(**slow_job(resumable, code))
        sm.create_training_job(**slow_job(doomed, code, checkpoint=False))

        def checkpointed_steps() -> int:
            try:
                body = s3.get_object(Bucket=BUCKET, Key=f"checkpoints/{resumable}/state.json")["Body"].read()
            except s3.exceptions.NoSuchKey:
                return 0
            return json.loads(body)["step"]

        wait_until(checkpointed_steps, lambda steps: steps >= 4, "a synced checkpoint", timeout=30, interval=0.1)
    finally:
        first.kill()

    second = LocalSageMakerProcess(state).start()
    try:
        sm, s3, runtime = second.client("sagemaker"), second.client("s3"), second.client("sagemaker-runtime")
        assert sm.describe_training_job(TrainingJobName=done)["TrainingJobStatus"] == "Completed"
        assert sm.describe_model(ModelName=done)["ModelName"] == done
        assert sm.describe_endpoint_config(EndpointConfigName=done)["EndpointConfigName"] == done
        body = s3.get_object(Bucket=BUCKET, Key=f"output/{done}/output/model.tar.gz")["Body"].read()
        assert body[:2] == b"\x1f\x8b"  # the artifact survived, byte for byte a gzip
        reply = runtime.invoke_endpoint(EndpointName=done, ContentType="text/csv", Body="1,0,0,0")
        assert 0.0 <= float(reply["Body"].read()) <= 1.0

        failed = wait_for_job(sm, doomed)
        assert failed["TrainingJobStatus"] == "Failed"
        assert "stopped while this job was running" in failed["FailureReason"]
        assert "CheckpointConfig" in failed["FailureReason"]

        resumed = wait_for_job(sm, resumable)
        assert resumed["TrainingJobStatus"] == "Completed", resumed.get("FailureReason")
        assert "Restarting" in [t["Status"] for t in resumed["SecondaryStatusTransitions"]]
        assert resumed["FinalMetricDataList"][0]["Value"] == 1.0
        assert model_txt(s3, resumed)["resumed_from"] >= 4
        sm.delete_endpoint(EndpointName=done)
    finally:
        second.stop()


@pytest.fixture(scope="module")
def spot_names() -> dict[str, str]:
    return {"resumes": unique("spot-resumes"), "never": unique("spot-never")}


@pytest.fixture(scope="module")
def spot_server(tmp_path_factory, spot_names) -> Any:
    # One server for both tests: a seed under which the first job is interrupted once and then runs through.
    for seed in range(10_000):
        spot = SpotSettings(interruption_rate=0.5, seed=seed)
        draws = [spot.interruption_after(spot_names["resumes"], i) is not None for i in (1, 2)]
        always = all(spot.interruption_after(spot_names["never"], i) is not None for i in range(1, 6))
        if draws == [True, False] and always:
            break
    else:
        raise AssertionError("no seed found")
    server = LocalSageMakerProcess(
        tmp_path_factory.mktemp("spot") / "state",
        extra_args=["--spot-interruption-rate", "0.5", "--spot-seed", str(seed)],
    ).start()
    code = seed_bucket(server)
    yield server, code
    server.stop()


def spot_job(name: str, code: str, max_runtime: int, max_wait: int) -> dict[str, Any]:
    stopping = {"MaxRuntimeInSeconds": max_runtime, "MaxWaitTimeInSeconds": max_wait}
    return slow_job(name, code, EnableManagedSpotTraining=True, StoppingCondition=stopping)


def test_spot_interruption_resumes_from_checkpoint_and_bills_less(spot_server, spot_names):
    server, code = spot_server
    sm, s3 = server.client("sagemaker"), server.client("s3")
    name = spot_names["resumes"]
    sm.create_training_job(**spot_job(name, code, max_runtime=120, max_wait=240))
    job = wait_for_job(sm, name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    statuses = [t["Status"] for t in job["SecondaryStatusTransitions"]]
    assert statuses.count("Interrupted") == 1
    assert statuses.index("Interrupted") < statuses.index("Restarting") < statuses.index("Completed")
    assert job["FinalMetricDataList"][0]["Value"] == 1.0
    assert model_txt(s3, job)["resumed_from"] >= 1  # the second attempt started from a checkpoint, not step 0
    assert job["EnableManagedSpotTraining"] is True
    assert job["BillableTimeInSeconds"] < job["TrainingTimeInSeconds"]


def test_spot_job_that_never_gets_capacity_fails_at_max_wait(spot_server, spot_names):
    server, code = spot_server
    sm = server.client("sagemaker")
    name = spot_names["never"]
    sm.create_training_job(**spot_job(name, code, max_runtime=6, max_wait=6))
    job = wait_for_job(sm, name, timeout=60)
    assert job["TrainingJobStatus"] == "Failed"
    assert job["SecondaryStatus"] == "MaxWaitTimeExceeded"
    assert job["FailureReason"] == "Training job exceeded MaxWaitTimeInSeconds provided"


def test_a_tuning_job_survives_kill_9_without_repeating_finished_jobs(tmp_path):
    from tests.tuning_helpers import curve_definition, tuning_request

    state = tmp_path / "state"
    first = LocalSageMakerProcess(state).start()
    name = unique("survivor")[:32]
    try:
        seed_bucket(first)
        code = upload_source(first.client("s3"), BUCKET, {"curve.py": ASSETS / "curve.py"}, "code/curve.tar.gz")
        definition = curve_definition(code, f"s3://{BUCKET}/data/train/", f"s3://{BUCKET}/tuning")
        definition["CheckpointConfig"] = {"S3Uri": f"s3://{BUCKET}/tuning-checkpoints"}
        sm = first.client("sagemaker")
        sm.create_hyper_parameter_tuning_job(**tuning_request(name, definition, "Bayesian", max_jobs=6, parallel=1))

        def completed() -> list[dict[str, Any]]:
            summaries = sm.list_training_jobs_for_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
            return [s for s in summaries["TrainingJobSummaries"] if s["TrainingJobStatus"] == "Completed"]

        wait_until(completed, lambda jobs: len(jobs) >= 2, "two finished training jobs", timeout=60)
        before = {s["TrainingJobName"]: s for s in completed()}
    finally:
        first.kill()

    second = LocalSageMakerProcess(state).start()
    try:
        sm = second.client("sagemaker")
        described = wait_for_tuning(sm, name)
        assert described["HyperParameterTuningJobStatus"] == "Completed", described.get("FailureReason")
        summaries = sm.list_training_jobs_for_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=name, MaxResults=100
        )["TrainingJobSummaries"]
        names = [s["TrainingJobName"] for s in summaries]
        assert len(names) == len(set(names)) == 6
        assert described["TrainingJobStatusCounters"]["Completed"] == 6
        for job_name, summary in before.items():
            again = next(s for s in summaries if s["TrainingJobName"] == job_name)
            assert again["CreationTime"] == summary["CreationTime"]  # not run a second time
            assert again["TunedHyperParameters"] == summary["TunedHyperParameters"]
    finally:
        second.stop()


def test_s3_survives_kill_9_with_metadata_tags_etags_and_deletes(tmp_path):
    from boto3.s3.transfer import TransferConfig

    state = tmp_path / "state"
    first = LocalSageMakerProcess(state).start()
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(range(256)) * (4 * 1024 * 40))  # 40 MiB: a multipart upload
    try:
        s3 = first.client("s3")
        s3.create_bucket(Bucket="plain")
        s3.put_object(Bucket="plain", Key="k", Body=b"same", ContentType="text/plain", Metadata={"rev": "1"})
        s3.put_object(Bucket="plain", Key="k", Body=b"same", ContentType="text/csv", Metadata={"rev": "2"})
        s3.put_object(Bucket="plain", Key="tagged", Body=b"t", Tagging="stage=test")
        s3.put_object(Bucket="plain", Key="gone", Body=b"g")
        s3.delete_object(Bucket="plain", Key="gone")
        s3.upload_file(str(big), "plain", "big.bin", Config=TransferConfig(multipart_threshold=8 * 1024 * 1024))
        s3.create_bucket(Bucket="versioned")
        s3.put_bucket_versioning(Bucket="versioned", VersioningConfiguration={"Status": "Enabled"})
        s3.put_object(Bucket="versioned", Key="kept", Body=b"v1")
        s3.put_object(Bucket="versioned", Key="deleted", Body=b"d")
        s3.delete_object(Bucket="versioned", Key="deleted")  # a delete marker must not break persistence
        s3.put_object(Bucket="plain", Key="after", Body=b"a")
        expected = {key: s3.head_object(Bucket="plain", Key=key) for key in ("k", "tagged", "big.bin", "after")}
    finally:
        first.kill()

    second = LocalSageMakerProcess(state).start()
    try:
        s3 = second.client("s3")
        assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket="plain")["Contents"]) == [
            "after", "big.bin", "k", "tagged",
        ]  # fmt: skip
        for key, before in expected.items():
            after = s3.head_object(Bucket="plain", Key=key)
            assert after["ETag"] == before["ETag"], key
            assert after["ContentType"] == before["ContentType"], key
            assert after["Metadata"] == before["Metadata"], key
            assert after["LastModified"] == before["LastModified"], key
        assert s3.head_object(Bucket="plain", Key="k")["Metadata"] == {"rev": "2"}
        assert s3.get_object(Bucket="plain", Key="big.bin")["Body"].read() == big.read_bytes()
        assert s3.get_object_tagging(Bucket="plain", Key="tagged")["TagSet"] == [{"Key": "stage", "Value": "test"}]
        assert s3.get_bucket_versioning(Bucket="versioned")["Status"] == "Enabled"
        assert [o["Key"] for o in s3.list_objects_v2(Bucket="versioned")["Contents"]] == ["kept"]
    finally:
        second.stop()


def test_a_relative_state_dir_works_for_script_mode_jobs(tmp_path):
    """`make demo` passes a relative --state-dir; the job runs elsewhere, so its paths must be absolute."""
    import os

    from tests.local_sagemaker import ROOT

    server = LocalSageMakerProcess(Path(os.path.relpath(tmp_path / "state", ROOT))).start()
    try:
        code = seed_bucket(server)
        sm = server.client("sagemaker")
        name = unique("relative")
        sm.create_training_job(**slow_job(name, code, steps=2, checkpoint=False))
        job = wait_for_job(sm, name)
        assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
        assert model_txt(server.client("s3"), job)["steps"] == 2  # written where SM_MODEL_DIR pointed
    finally:
        server.stop()

"""Durability and managed spot, each on a private local SageMaker process that the test kills or configures."""

from __future__ import annotations

import datetime
import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest

from harness.local_sagemaker import (
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
from include.local_sagemaker.runner.training import SpotSettings

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


def cloudwatch_record(server: LocalSageMakerProcess, job: dict[str, Any]) -> tuple[list[str], dict[str, list[Any]]]:
    """A finished training job's log lines and, per final metric, its values in CloudWatch (as TrainingJobAnalytics
    reads them: one-second datapoints between the job's training start and end)."""
    logs, cloudwatch, name = server.client("logs"), server.client("cloudwatch"), job["TrainingJobName"]
    [stream] = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix=f"{name}/")[
        "logStreams"
    ]
    events = logs.get_log_events(
        logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=stream["logStreamName"], startFromHead=True
    )["events"]
    metrics = {
        metric["MetricName"]: sorted(
            (point["Timestamp"], point["Average"])
            for point in cloudwatch.get_metric_statistics(
                Namespace="/aws/sagemaker/TrainingJobs",
                MetricName=metric["MetricName"],
                Dimensions=[{"Name": "TrainingJobName", "Value": name}],
                StartTime=job["TrainingStartTime"],
                EndTime=job["TrainingEndTime"] + datetime.timedelta(seconds=1),
                Period=1,
                Statistics=["Average"],
            )["Datapoints"]
        )
        for metric in job["FinalMetricDataList"]
    }
    return [event["message"] for event in events], metrics


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
        record = cloudwatch_record(first, finished)
        assert record[0] and all(record[1].values()), record  # it logged, and published every final metric
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
        resumable, doomed, retried = unique("resumable"), unique("doomed"), unique("retried")
        sm.create_training_job(**slow_job(resumable, code))
        sm.create_training_job(**slow_job(doomed, code, checkpoint=False))
        # No checkpoints, but a RetryStrategy: the crash is an internal error, so the job is run again.
        sm.create_training_job(**slow_job(retried, code, checkpoint=False, RetryStrategy={"MaximumRetryAttempts": 1}))

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
        assert cloudwatch_record(second, finished) == record  # its log and its metrics in CloudWatch too
        reply = runtime.invoke_endpoint(EndpointName=done, ContentType="text/csv", Body="1,0,0,0")
        assert 0.0 <= float(reply["Body"].read()) <= 1.0

        failed = wait_for_job(sm, doomed)
        assert failed["TrainingJobStatus"] == "Failed"
        assert "stopped while this job was running" in failed["FailureReason"]
        assert "CheckpointConfig" in failed["FailureReason"]

        again = wait_for_job(sm, retried)
        assert again["TrainingJobStatus"] == "Completed", again.get("FailureReason")
        restarts = [t["StatusMessage"] for t in again["SecondaryStatusTransitions"] if t["Status"] == "Restarting"]
        assert restarts == ["The local SageMaker restarted: retrying the job (RetryStrategy retry 1 of 1)"]
        assert again["RetryStrategy"] == {"MaximumRetryAttempts": 1}

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
        s3.put_object(Bucket="plain", Key="after", Body=b"a", StorageClass="STANDARD_IA", ChecksumAlgorithm="SHA256")
        expected = {
            key: s3.head_object(Bucket="plain", Key=key, ChecksumMode="ENABLED")
            for key in ("k", "tagged", "big.bin", "after")
        }
    finally:
        first.kill()

    second = LocalSageMakerProcess(state).start()
    try:
        s3 = second.client("s3")
        assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket="plain")["Contents"]) == [
            "after",
            "big.bin",
            "k",
            "tagged",
        ]
        for key, before in expected.items():
            after = s3.head_object(Bucket="plain", Key=key, ChecksumMode="ENABLED")
            assert after["ETag"] == before["ETag"], key
            assert after.get("StorageClass") == before.get("StorageClass"), key
            assert after.get("ChecksumSHA256") == before.get("ChecksumSHA256"), key
            assert after["ContentType"] == before["ContentType"], key
            assert after["Metadata"] == before["Metadata"], key
            assert after["LastModified"] == before["LastModified"], key
        assert s3.head_object(Bucket="plain", Key="k")["Metadata"] == {"rev": "2"}
        assert (expected["after"]["StorageClass"], bool(expected["after"]["ChecksumSHA256"])) == ("STANDARD_IA", True)
        assert s3.get_object(Bucket="plain", Key="big.bin")["Body"].read() == big.read_bytes()
        assert s3.get_object_tagging(Bucket="plain", Key="tagged")["TagSet"] == [{"Key": "stage", "Value": "test"}]
        assert s3.get_bucket_versioning(Bucket="versioned")["Status"] == "Enabled"
        assert [o["Key"] for o in s3.list_objects_v2(Bucket="versioned")["Contents"]] == ["kept"]
    finally:
        second.stop()


# Ordinary S3 keys that a gateway decoding the request path twice used to persist under another name, or not at
# all (`a%20b` as `a b`, `é` as mojibake): they answered NoSuchKey after a restart.
AWKWARD_KEYS = ["a%20b", "percent%25", "uni-é", "..%2F..%2Fx", "sp ace", "plus+sign", "q?x=1", "hash#frag"]


def test_keys_with_percent_signs_and_non_ascii_survive_a_restart_on_every_write_path(tmp_path):
    state = tmp_path / "state"
    first = LocalSageMakerProcess(state).start()
    try:
        s3 = first.client("s3")
        s3.create_bucket(Bucket="awkward")
        for key in AWKWARD_KEYS:
            s3.put_object(Bucket="awkward", Key=key, Body=key.encode(), Metadata={"k": "v"})
        assert [s3.get_object(Bucket="awkward", Key=key)["Body"].read() for key in AWKWARD_KEYS] == [
            key.encode() for key in AWKWARD_KEYS
        ]
        # Every other request that names a key: copy (an encoded source key too), metadata replaced by a copy
        # onto itself, tagging, a multipart upload, a delete and a batch delete.
        s3.copy_object(Bucket="awkward", Key="copy of a%20b", CopySource={"Bucket": "awkward", "Key": "a%20b"})
        s3.copy_object(
            Bucket="awkward",
            Key="uni-é",
            CopySource={"Bucket": "awkward", "Key": "uni-é"},
            MetadataDirective="REPLACE",
            Metadata={"k": "replaced"},
        )
        s3.put_object_tagging(Bucket="awkward", Key="percent%25", Tagging={"TagSet": [{"Key": "t", "Value": "é v"}]})
        upload = s3.create_multipart_upload(Bucket="awkward", Key="multi%2Fpart é")["UploadId"]
        part = s3.upload_part(Bucket="awkward", Key="multi%2Fpart é", UploadId=upload, PartNumber=1, Body=b"m")
        s3.complete_multipart_upload(
            Bucket="awkward",
            Key="multi%2Fpart é",
            UploadId=upload,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
        )
        for key in ("deleted%20", "batch-deleted-é"):
            s3.put_object(Bucket="awkward", Key=key, Body=b"d")
        s3.delete_object(Bucket="awkward", Key="deleted%20")
        s3.delete_objects(Bucket="awkward", Delete={"Objects": [{"Key": "batch-deleted-é"}]})
        expected = {
            o["Key"]: o["ETag"] for o in s3.list_objects_v2(Bucket="awkward")["Contents"]
        }  # the service's own answer before the kill
    finally:
        first.kill()
    assert sorted(expected) == sorted([*AWKWARD_KEYS, "copy of a%20b", "multi%2Fpart é"])

    second = LocalSageMakerProcess(state).start()
    try:
        s3 = second.client("s3")
        listed = {o["Key"]: o["ETag"] for o in s3.list_objects_v2(Bucket="awkward")["Contents"]}
        assert listed == expected
        for key in AWKWARD_KEYS:
            assert s3.get_object(Bucket="awkward", Key=key)["Body"].read() == key.encode(), key
        assert s3.get_object(Bucket="awkward", Key="copy of a%20b")["Body"].read() == b"a%20b"
        assert s3.head_object(Bucket="awkward", Key="uni-é")["Metadata"] == {"k": "replaced"}
        assert s3.head_object(Bucket="awkward", Key="a%20b")["Metadata"] == {"k": "v"}
        assert s3.get_object_tagging(Bucket="awkward", Key="percent%25")["TagSet"] == [{"Key": "t", "Value": "é v"}]
        assert s3.get_object(Bucket="awkward", Key="multi%2Fpart é")["Body"].read() == b"m"
        assert "a b" not in listed and "deleted%20" not in listed and "batch-deleted-é" not in listed
    finally:
        second.stop()
    # Each write was persisted by the request itself: the safety net (an ERROR and a reconcile) never had to act.
    assert "ERROR include.local_sagemaker.s3_persistence" not in second.log_path.read_text()


def test_every_version_and_delete_marker_and_open_uploads_survive_a_restart(tmp_path):
    state = tmp_path / "state"
    first = LocalSageMakerProcess(state, env={"S3_UPLOAD_PART_MIN_SIZE": "1"}).start()
    try:
        s3 = first.client("s3")
        s3.create_bucket(Bucket="history")
        s3.put_bucket_versioning(Bucket="history", VersioningConfiguration={"Status": "Enabled"})
        old = s3.put_object(Bucket="history", Key="k é", Body=b"v1", Metadata={"rev": "1"}, Tagging="rev=1")
        new = s3.put_object(Bucket="history", Key="k é", Body=b"v2", Metadata={"rev": "2"})
        marker = s3.delete_object(Bucket="history", Key="k é")
        upload = s3.create_multipart_upload(Bucket="history", Key="open%20upload", Metadata={"m": "1"})["UploadId"]
        part = s3.upload_part(Bucket="history", Key="open%20upload", UploadId=upload, PartNumber=1, Body=b"p1")
        before = s3.list_object_versions(Bucket="history")
    finally:
        first.kill()

    second = LocalSageMakerProcess(state, env={"S3_UPLOAD_PART_MIN_SIZE": "1"}).start()
    try:
        s3 = second.client("s3")
        after = s3.list_object_versions(Bucket="history")
        for listing in ("Versions", "DeleteMarkers"):
            assert [(v["Key"], v["VersionId"], v["IsLatest"], v["LastModified"]) for v in after[listing]] == [
                (v["Key"], v["VersionId"], v["IsLatest"], v["LastModified"]) for v in before[listing]
            ]
        assert [m["VersionId"] for m in after["DeleteMarkers"]] == [marker["VersionId"]]
        for version, body, rev in ((old, b"v1", "1"), (new, b"v2", "2")):
            got = s3.get_object(Bucket="history", Key="k é", VersionId=version["VersionId"])
            assert (got["Body"].read(), got["ETag"], got["Metadata"]) == (body, version["ETag"], {"rev": rev})
        tags = s3.get_object_tagging(Bucket="history", Key="k é", VersionId=old["VersionId"])["TagSet"]
        assert tags == [{"Key": "rev", "Value": "1"}]
        # The upload keeps its id and its part: the client finishes it as if nothing had happened.
        assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket="history")["Uploads"]] == [upload]
        last = s3.upload_part(Bucket="history", Key="open%20upload", UploadId=upload, PartNumber=2, Body=b"p2")
        s3.complete_multipart_upload(
            Bucket="history",
            Key="open%20upload",
            UploadId=upload,
            MultipartUpload={
                "Parts": [{"PartNumber": 1, "ETag": part["ETag"]}, {"PartNumber": 2, "ETag": last["ETag"]}]
            },
        )
        got = s3.get_object(Bucket="history", Key="open%20upload")
        assert (got["Body"].read(), got["Metadata"]) == (b"p1p2", {"m": "1"})
    finally:
        second.stop()


def test_s3_state_written_before_versions_were_kept_is_still_restored(tmp_path):
    """State directories of earlier releases hold one row per key in an `objects` table."""
    import hashlib
    import sqlite3

    s3_dir = tmp_path / "state" / "s3"
    (s3_dir / "objects").mkdir(parents=True)
    file = hashlib.sha256(b"old/k\u00e9").hexdigest()
    (s3_dir / "objects" / file).write_bytes(b"kept")
    with sqlite3.connect(s3_dir / "s3.sqlite3") as db:
        db.execute("CREATE TABLE buckets (name TEXT PRIMARY KEY, region TEXT, versioning TEXT)")
        db.execute(
            "CREATE TABLE objects (bucket TEXT, key TEXT, file TEXT, etag TEXT, metadata TEXT, tags TEXT,"
            " last_modified TEXT, PRIMARY KEY (bucket, key))"
        )
        db.execute("INSERT INTO buckets VALUES ('old', 'us-east-1', 'Enabled')")
        db.execute(
            "INSERT INTO objects VALUES ('old', 'ké', ?, '\"etag-1\"', '{\"Content-Type\": \"text/plain\"}',"
            " '{\"t\": \"1\"}', '2026-01-02T03:04:05.123456')",  # moto's naive UTC, as stored
            (file,),
        )
    with LocalSageMakerProcess(tmp_path / "state") as server:
        s3 = server.client("s3")
        got = s3.get_object(Bucket="old", Key="ké")
        assert (got["Body"].read(), got["ETag"], got["ContentType"]) == (b"kept", '"etag-1"', "text/plain")
        assert s3.get_object_tagging(Bucket="old", Key="ké")["TagSet"] == [{"Key": "t", "Value": "1"}]
        assert s3.get_bucket_versioning(Bucket="old")["Status"] == "Enabled"
        s3.put_object(Bucket="old", Key="ké", Body=b"newer")  # the migrated version stays, under a VersionId
        assert [v["IsLatest"] for v in s3.list_object_versions(Bucket="old")["Versions"]] == [True, False]


def test_a_relative_state_dir_works_for_script_mode_jobs(tmp_path):
    """`make demo` passes a relative --state-dir; the job runs elsewhere, so its paths must be absolute."""
    import os

    from harness.local_sagemaker import ROOT

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


def test_a_deleted_resources_tags_go_with_it_and_stay_gone_after_a_restart(tmp_path):
    """Re-creating a model, endpoint config or tuning job under a deleted one's name starts untagged, as on AWS."""
    server = LocalSageMakerProcess(tmp_path / "state").start()
    try:
        sm = server.client("sagemaker")
        container = {"Image": XGBOOST_IMAGE, "ModelDataUrl": "s3://b/model.tar.gz"}
        sm.create_model(
            ModelName="tagged",
            ExecutionRoleArn=ROLE,
            PrimaryContainer=container,
            Tags=[{"Key": "team", "Value": "old"}],
        )
        arn = sm.describe_model(ModelName="tagged")["ModelArn"]
        sm.delete_model(ModelName="tagged")
        sm.create_model(ModelName="tagged", ExecutionRoleArn=ROLE, PrimaryContainer=container)
        assert sm.list_tags(ResourceArn=arn)["Tags"] == []
        sm.delete_model(ModelName="tagged")
        sm.create_model(
            ModelName="tagged",
            ExecutionRoleArn=ROLE,
            PrimaryContainer=container,
            Tags=[{"Key": "team", "Value": "old"}],
        )
        sm.delete_model(ModelName="tagged")
        server.kill()
        server.start()  # the deletion of the tags was persisted too
        sm = server.client("sagemaker")
        sm.create_model(ModelName="tagged", ExecutionRoleArn=ROLE, PrimaryContainer=container)
        assert sm.list_tags(ResourceArn=arn)["Tags"] == []
    finally:
        server.stop()


def test_metric_values_and_log_events_are_stored_not_held_in_the_service(tmp_path: Path) -> None:
    """Each training job publishes its metric values to CloudWatch and its log to CloudWatch Logs. moto holds each as
    an object for the life of the process (~1 KiB a value); over a year of nightly tuning that was half the service's
    growth (benchmarks/results/backfill_year.md). Stored instead: 40,000 values and 40,000 log events must grow the
    service < 12 MiB (moto's own storage: +37 MiB), and a kill -9 right after they were acknowledged loses none."""
    import psutil

    group, now = "/aws/sagemaker/TrainingJobs", datetime.datetime.now(datetime.UTC)
    ms = int(now.timestamp() * 1000)

    def publish(server: LocalSageMakerProcess, job: str) -> None:
        dimensions = [{"Name": "TrainingJobName", "Value": job}]
        values = [
            {"MetricName": "validation:auc", "Dimensions": dimensions, "Timestamp": now, "Value": 0.5 + i / 1e4}
            for i in range(500)
        ]
        server.client("cloudwatch").put_metric_data(Namespace=group, MetricData=values)
        logs = server.client("logs")
        logs.create_log_stream(logGroupName=group, logStreamName=f"{job}/algo-1")
        lines = [{"timestamp": ms + i, "message": f"[{i}]#011validation-auc:0.{i:04d} {job}"} for i in range(500)]
        logs.put_log_events(logGroupName=group, logStreamName=f"{job}/algo-1", logEvents=lines)

    def read(server: LocalSageMakerProcess, job: str) -> tuple[list[Any], list[str]]:
        [point] = server.client("cloudwatch").get_metric_statistics(
            Namespace=group,
            MetricName="validation:auc",
            Dimensions=[{"Name": "TrainingJobName", "Value": job}],
            StartTime=now - datetime.timedelta(minutes=1),
            EndTime=now + datetime.timedelta(minutes=1),
            Period=60,
            Statistics=["SampleCount", "Sum", "Maximum"],
        )["Datapoints"]
        events = server.client("logs").get_log_events(logGroupName=group, logStreamName=f"{job}/algo-1")["events"]
        return [point["SampleCount"], round(point["Sum"], 6), point["Maximum"]], [e["message"] for e in events]

    point = [500.0, round(sum(0.5 + i / 1e4 for i in range(500)), 6), 0.5499]  # SampleCount, Sum, Maximum
    server = LocalSageMakerProcess(tmp_path / "state").start()
    try:
        server.client("logs").create_log_group(logGroupName=group)
        publish(server, "warm-up")  # first-request imports and caches
        rss = psutil.Process(server.process.pid).memory_info().rss
        for job in range(80):
            publish(server, f"job-{job}")
        grown = (psutil.Process(server.process.pid).memory_info().rss - rss) / 2**20
        assert grown < 12, f"the service grew {grown:.0f} MiB for 40,000 metric values and log events"
        before = read(server, "job-79")
        assert before[0] == point and len(before[1]) == 500
    finally:
        server.kill()
    with LocalSageMakerProcess(tmp_path / "state") as server:
        assert read(server, "job-79") == before
        assert read(server, "job-0")[0] == point
        assert len(server.client("logs").describe_log_streams(logGroupName=group)["logStreams"]) == 50  # a page
        listed = server.client("cloudwatch").list_metrics(Namespace=group, MetricName="validation:auc")["Metrics"]
        assert len(listed) == 81


def test_stored_s3_objects_hold_neither_memory_nor_an_open_file_in_the_service(tmp_path: Path) -> None:
    """A year of nightly runs stores ~1 GiB in ~1,200 objects. Held in moto's memory, that grew the service by 1.5 MiB
    per run (benchmarks/results/backfill_year.md); with moto's buffer lowered to 64 KiB each larger object held an
    unnamed temporary file open instead, and past 1,023 descriptors the job launcher's select() failed. Once stored,
    an object's bytes are read from its file: storing 96 MiB must grow neither the service's memory (moto's default
    held all of it: +90 MiB) nor its open files, before or after a restart restores them, and every read (whole, a
    range, a HEAD of one part of a multipart upload) still answers."""
    import psutil
    from boto3.s3.transfer import TransferConfig

    def footprint(server: LocalSageMakerProcess) -> tuple[float, int]:
        process = psutil.Process(server.process.pid)
        return process.memory_info().rss / 2**20, process.num_fds()

    bucket, body = "footprint-check", os.urandom(256 * 1024)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(16 * 2**20))  # two parts of 8 MiB
    with LocalSageMakerProcess(tmp_path / "state") as server:
        s3 = server.client("s3")
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="warm-up", Body=body)  # first-request imports and caches
        memory, files = footprint(server)
        for i in range(384):  # 96 MiB
            s3.put_object(Bucket=bucket, Key=f"objects/{i}", Body=body)
        grown_memory, grown_files = footprint(server)
        assert grown_memory - memory < 32, f"service RSS grew {grown_memory - memory:.0f} MiB for 96 MiB stored"
        assert grown_files - files < 50
        config = TransferConfig(multipart_threshold=8 * 2**20, multipart_chunksize=8 * 2**20)
        s3.upload_file(str(big), bucket, "big.bin", Config=config)
        assert s3.get_object(Bucket=bucket, Key="objects/7")["Body"].read() == body
        ranged = s3.get_object(Bucket=bucket, Key="objects/7", Range="bytes=1000-1999")["Body"].read()
        assert ranged == body[1000:2000]
        assert s3.head_object(Bucket=bucket, Key="big.bin", PartNumber=2)["ContentLength"] == 8 * 2**20
        assert s3.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == big.read_bytes()
        s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "objects/7"})
        s3.put_object(Bucket=bucket, Key="objects/7", Body=b"overwritten")
        assert s3.get_object(Bucket=bucket, Key="copy")["Body"].read() == body
    with LocalSageMakerProcess(tmp_path / "state") as server:
        s3 = server.client("s3")
        restored_memory, restored_files = footprint(server)
        assert restored_memory - memory < 32, "the restore read stored bytes into memory"
        assert restored_files - files < 50
        assert s3.get_object(Bucket=bucket, Key="objects/383")["Body"].read() == body
        assert s3.get_object(Bucket=bucket, Key="objects/7")["Body"].read() == b"overwritten"
        assert s3.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == big.read_bytes()

"""Training jobs on the real local SageMaker, driven by boto3 and the Airflow provider's SageMakerHook."""

from __future__ import annotations

import io
import tarfile
import time
from pathlib import Path

import pytest

from harness.local_sagemaker import training_request, unique, upload_source, wait_for_job, wait_for_status
from tests.specs import FLIGHT_METRIC_DEFINITIONS

TRAIN_SCRIPT = Path(__file__).resolve().parents[2] / "training_scripts" / "flight_delay" / "train.py"
SLEEPER = b"""
import os, signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: (print("got SIGTERM", flush=True), sys.exit(143)))
for step in range(600):
    print(f"step={step} loss={1.0 / (step + 1):.4f};", flush=True)
    time.sleep(0.1)
"""


@pytest.fixture(scope="module")
def train_py(s3, bucket) -> str:
    return upload_source(s3, bucket, {"train.py": TRAIN_SCRIPT}, "code/train/sourcedir.tar.gz")


def test_builtin_xgboost_with_the_providers_hook_prints_logs_and_reports_aws_metrics(
    local_sagemaker, s3, bucket, channels, capfd, monkeypatch
):
    import types

    from airflow.providers.amazon.aws.hooks import sagemaker as provider_hook
    from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook

    # While it tails the log, the provider describes the job only every 30 s of time.monotonic(): a job of a few
    # seconds would keep the test waiting ~30 s for nothing. A clock ten times as fast keeps its loop as it is.
    fast = types.SimpleNamespace(**{n: getattr(time, n) for n in dir(time) if not n.startswith("_")})
    fast.monotonic = lambda: time.monotonic() * 10
    monkeypatch.setattr(provider_hook, "time", fast)

    name = unique("builtin")
    config = training_request(name, channels, f"s3://{bucket}/output")
    hook = SageMakerHook(aws_conn_id="aws_default")
    hook.create_training_job(config, wait_for_completion=True, print_log=True, check_interval=1)

    described = hook.describe_training_job(name)
    assert described["TrainingJobStatus"] == "Completed"
    assert [t["Status"] for t in described["SecondaryStatusTransitions"]] == [
        "Starting",
        "Downloading",
        "Training",
        "Uploading",
        "Completed",
    ]
    metrics = {m["MetricName"]: m["Value"] for m in described["FinalMetricDataList"]}
    assert set(metrics) == {"train:auc", "validation:auc"}
    assert 0.7 < metrics["validation:auc"] <= 1.0
    assert described["TrainingTimeInSeconds"] >= 1
    assert described["BillableTimeInSeconds"] == described["TrainingTimeInSeconds"]
    # print_log streamed the job's CloudWatch log, AWS's #011-separated XGBoost lines included.
    logged = capfd.readouterr().out
    assert "#011train-auc:" in logged and "#011validation-auc:" in logged
    artifact = described["ModelArtifacts"]["S3ModelArtifacts"]
    assert artifact == f"s3://{bucket}/output/{name}/output/model.tar.gz"
    body = s3.get_object(Bucket=bucket, Key=f"output/{name}/output/model.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        assert tar.getnames() == ["xgboost-model"]


def test_script_mode_runs_the_training_script_and_parses_its_metric_regexes(sm, bucket, channels, train_py):
    name = unique("script")
    config = training_request(
        name,
        channels,
        f"s3://{bucket}/output",
        hyperparameters={
            "num_round": "6",
            "max_depth": "3",
            # The SageMaker SDK JSON-encodes these two; the runner decodes them as the training toolkit does.
            "sagemaker_program": '"train.py"',
            "sagemaker_submit_directory": f'"{train_py}"',
        },
        AlgorithmSpecification={"MetricDefinitions": FLIGHT_METRIC_DEFINITIONS},
    )
    sm.create_training_job(**config)
    described = wait_for_job(sm, name)
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    metrics = {m["MetricName"]: m["Value"] for m in described["FinalMetricDataList"]}
    assert set(metrics) == {d["Name"] for d in FLIGHT_METRIC_DEFINITIONS}
    assert 0.5 < metrics["validation:auc"] <= 1.0
    assert metrics["validation:logloss"] > 0


def test_list_training_jobs_filters_sorts_and_paginates(sm, bucket, channels):
    prefix = unique("listing")
    names = [f"{prefix}-{i}" for i in range(3)]
    for name in names:
        sm.create_training_job(**training_request(name, channels, f"s3://{bucket}/output"))
    for name in names:
        wait_for_job(sm, name)

    listed = sm.list_training_jobs(NameContains=prefix, SortBy="Name", SortOrder="Ascending")
    assert [j["TrainingJobName"] for j in listed["TrainingJobSummaries"]] == names
    first = sm.list_training_jobs(NameContains=prefix, MaxResults=2, SortBy="CreationTime")
    assert len(first["TrainingJobSummaries"]) == 2 and "NextToken" in first
    rest = sm.list_training_jobs(NameContains=prefix, MaxResults=2, NextToken=first["NextToken"])
    paged = [j["TrainingJobName"] for j in first["TrainingJobSummaries"] + rest["TrainingJobSummaries"]]
    assert paged == list(reversed(names)) and "NextToken" not in rest
    assert sm.list_training_jobs(NameContains=prefix, StatusEquals="Failed")["TrainingJobSummaries"] == []
    paginator = sm.get_paginator("list_training_jobs")
    pages = paginator.paginate(NameContains=prefix, PaginationConfig={"PageSize": 1})
    assert sorted(j["TrainingJobName"] for page in pages for j in page["TrainingJobSummaries"]) == names


@pytest.fixture(scope="module")
def sleeper(s3, bucket) -> str:
    return upload_source(s3, bucket, {"sleeper.py": SLEEPER}, "code/sleeper/sourcedir.tar.gz")


def sleeper_job(name: str, code: str, channels: dict[str, str], bucket: str, **extra) -> dict:
    return training_request(
        name,
        {"train": channels["train"]},
        f"s3://{bucket}/output",
        hyperparameters={"sagemaker_program": "sleeper.py", "sagemaker_submit_directory": code},
        AlgorithmSpecification={"MetricDefinitions": [{"Name": "loss", "Regex": r"loss=([0-9.]+);"}]},
        **extra,
    )


def test_stop_training_job_sends_sigterm_and_ends_stopped(local_sagemaker, sm, bucket, channels, sleeper):
    name = unique("stopped")
    sm.create_training_job(**sleeper_job(name, sleeper, channels, bucket))
    wait_for_status(sm, name, {"Training"})
    # Wait for the first metric, so that the stop lands in the middle of training.
    deadline = time.monotonic() + 10
    while not sm.describe_training_job(TrainingJobName=name).get("FinalMetricDataList"):
        assert time.monotonic() < deadline, "the script printed no metric"
        time.sleep(0.1)
    sm.stop_training_job(TrainingJobName=name)
    assert sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] in ("Stopping", "Stopped")
    described = wait_for_job(sm, name)
    assert described["TrainingJobStatus"] == "Stopped"
    assert described["SecondaryStatus"] == "Stopped"
    assert 0 < described["FinalMetricDataList"][0]["Value"] <= 1.0
    events = local_sagemaker.client("logs").filter_log_events(
        logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix=f"{name}/"
    )["events"]
    assert "got SIGTERM" in [e["message"] for e in events]
    with pytest.raises(sm.exceptions.ClientError, match="ValidationException"):
        sm.stop_training_job(TrainingJobName=name)


def test_max_runtime_is_enforced(sm, bucket, channels, sleeper):
    name = unique("maxrun")
    sm.create_training_job(**sleeper_job(name, sleeper, channels, bucket, StoppingCondition={"MaxRuntimeInSeconds": 2}))
    described = wait_for_job(sm, name, timeout=60)
    assert described["TrainingJobStatus"] == "Stopped"
    assert described["SecondaryStatus"] == "MaxRuntimeExceeded"
    assert 2 <= described["TrainingTimeInSeconds"] <= 15


def test_a_failing_script_fails_the_job_with_its_error(sm, s3, bucket, channels):
    code = upload_source(
        s3,
        bucket,
        {"boom.py": b"import sys\nprint('about to fail')\nsys.exit('bad hyperparameter: eta')\n"},
        "code/boom.tar.gz",
    )
    name = unique("boom")
    config = training_request(
        name,
        {"train": channels["train"]},
        f"s3://{bucket}/output",
        hyperparameters={"sagemaker_program": "boom.py", "sagemaker_submit_directory": code},
    )
    sm.create_training_job(**config)
    described = wait_for_job(sm, name)
    assert described["TrainingJobStatus"] == "Failed"
    assert described["FailureReason"].startswith("AlgorithmError:")
    assert "bad hyperparameter: eta" in described["FailureReason"]
    assert described["FailureReason"].endswith("exit code: 1")


def _as_libsvm(csv: str) -> str:
    lines = []
    for row in csv.strip().splitlines():
        label, *features = row.split(",")
        lines.append(" ".join([label] + [f"{i}:{v}" for i, v in enumerate(features)]))
    return "\n".join(lines) + "\n"


def _as_parquet(csv: str) -> bytes:
    import pandas as pd

    frame = pd.read_csv(io.StringIO(csv), header=None)
    frame.columns = [f"c{i}" for i in range(frame.shape[1])]
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("content_type", "encode"),
    [("text/libsvm", lambda csv: _as_libsvm(csv).encode()), ("application/x-parquet", _as_parquet)],
)
def test_builtin_xgboost_reads_libsvm_and_parquet_channels(sm, s3, bucket, content_type, encode):
    from harness.local_sagemaker import synthetic_csv

    name = unique("formats")
    request = training_request(name, {}, f"s3://{bucket}/output")
    for channel, seed in (("train", 0), ("validation", 1)):
        key = f"formats/{name}/{channel}/data"
        s3.put_object(Bucket=bucket, Key=key, Body=encode(synthetic_csv(seed=seed)))
        request["InputDataConfig"].append(
            {
                "ChannelName": channel,
                "ContentType": content_type,
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/{key}"}},
            }
        )
    sm.create_training_job(**request)
    described = wait_for_job(sm, name)
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    metrics = {m["MetricName"]: m["Value"] for m in described["FinalMetricDataList"]}
    assert metrics["validation:auc"] > 0.7


def test_a_network_isolated_job_has_no_endpoint_to_call_and_refused_fields_fail_the_create(
    local_sagemaker, sm, s3, bucket, channels
):
    probe = b"import os\nprint('endpoint=' + os.environ.get('AWS_ENDPOINT_URL', 'none'), flush=True)\n"
    code = upload_source(s3, bucket, {"probe.py": probe}, "code/probe.tar.gz")
    hyperparameters = {"sagemaker_program": "probe.py", "sagemaker_submit_directory": code}
    output = f"s3://{bucket}/output"
    for name, isolated in ((unique("isolated"), True), (unique("connected"), False)):
        config = training_request(name, {"train": channels["train"]}, output, hyperparameters=hyperparameters)
        sm.create_training_job(**config, EnableNetworkIsolation=isolated)
        assert wait_for_job(sm, name)["TrainingJobStatus"] == "Completed"
        events = local_sagemaker.client("logs").filter_log_events(
            logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix=f"{name}/"
        )["events"]
        printed = [
            e["message"]
            for e in events
            if e["logStreamName"].startswith(f"{name}/") and e["message"].startswith("endpoint=")
        ]
        assert printed == (["endpoint=none"] if isolated else [f"endpoint={local_sagemaker.url}"])

    refused = unique("vpc")
    with pytest.raises(sm.exceptions.ClientError) as caught:
        sm.create_training_job(
            **training_request(refused, {"train": channels["train"]}, output),
            VpcConfig={"SecurityGroupIds": ["sg-12345678"], "Subnets": ["subnet-12345678"]},
        )
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert caught.value.response["Error"]["Message"].startswith("VpcConfig is not supported by the local SageMaker")
    with pytest.raises(sm.exceptions.ClientError):
        sm.describe_training_job(TrainingJobName=refused)  # nothing was created


def test_openmp_threads_of_jobs_sharing_the_cores_sleep_while_they_wait_unless_the_job_says_otherwise(
    local_sagemaker, sm, s3, bucket, channels
):
    """OpenMP reads OMP_WAIT_POLICY once, when the process that loads it starts: for a job forked from the zygote
    (numpy, pandas and XGBoost preloaded) that is the zygote, so the probe reads the zygote's starting environment
    as well as its own. A job that sets Environment runs in an interpreter of its own, with its own value."""
    probe = b"""import os, sys
import xgboost  # what the job's OpenMP runtime comes with
parent = open(f"/proc/{os.getppid()}/cmdline", "rb").read().split(b"\\0")
started = dict(v.split(b"=", 1) for v in open(f"/proc/{os.getppid()}/environ", "rb").read().split(b"\\0") if b"=" in v)
print("own=" + os.environ.get("OMP_WAIT_POLICY", "unset"), flush=True)
if any(part.endswith(b"zygote.py") for part in parent):
    print("zygote=" + started.get(b"OMP_WAIT_POLICY", b"unset").decode(), flush=True)
"""
    code = upload_source(s3, bucket, {"probe.py": probe}, "code/omp-probe.tar.gz")
    hyperparameters = {"sagemaker_program": "probe.py", "sagemaker_submit_directory": code}
    printed = {}
    for label, environment in (("default", None), ("own", {"OMP_WAIT_POLICY": "ACTIVE"})):
        name = unique(f"omp-{label}")
        config = training_request(name, {"train": channels["train"]}, f"s3://{bucket}/output", hyperparameters)
        sm.create_training_job(**config, **({"Environment": environment} if environment else {}))
        assert wait_for_job(sm, name)["TrainingJobStatus"] == "Completed"
        events = local_sagemaker.client("logs").filter_log_events(
            logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix=f"{name}/"
        )["events"]
        printed[label] = [
            e["message"]
            for e in events
            if e["logStreamName"].startswith(f"{name}/") and e["message"].startswith(("own=", "zygote="))
        ]
    assert printed["default"] == ["own=PASSIVE", "zygote=PASSIVE"]
    assert printed["own"] == ["own=ACTIVE"]  # a fresh interpreter, whose OpenMP reads the job's own value

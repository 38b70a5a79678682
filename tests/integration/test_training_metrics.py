"""A training job's MetricDefinitions values in CloudWatch Metrics, read with boto3 and with the SDK v3's
TrainingJobAnalytics: https://docs.aws.amazon.com/sagemaker/latest/dg/training-metrics.html"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from harness.local_sagemaker import training_request, unique, upload_source, wait_for_status, wait_until

NAMESPACE = "/aws/sagemaker/TrainingJobs"
LOSSES = [0.9, 0.5, 0.25, 0.2]
# Values a little more than a second apart, so that Period=1 sees each on its own; a pause, so that a client
# polling CloudWatch sees the curve while the job is still training; a last value just before the job ends,
# which must be in CloudWatch by the time the job is Completed.
CURVE = f"""
import time
for step, loss in enumerate({LOSSES[:-1]!r}):
    print(f"step={{step}} loss={{loss}};", flush=True)
    time.sleep(1.1)
time.sleep(1.5)
print("step=3 loss={LOSSES[-1]};", flush=True)
""".encode()


def _statistics(cloudwatch: Any, name: str, start: datetime, end: datetime, period: int) -> list[dict[str, Any]]:
    points = cloudwatch.get_metric_statistics(
        Namespace=NAMESPACE,
        MetricName="loss",
        Dimensions=[{"Name": "TrainingJobName", "Value": name}],
        StartTime=start,
        EndTime=end,
        Period=period,
        Statistics=["Average", "SampleCount", "Minimum", "Maximum"],
    )["Datapoints"]
    return sorted(points, key=lambda p: p["Timestamp"])


@pytest.fixture(scope="module")
def cloudwatch(local_sagemaker) -> Any:
    return local_sagemaker.client("cloudwatch")


@pytest.fixture(scope="module")
def curve_job(sm, s3, bucket, channels, cloudwatch) -> dict[str, Any]:
    """A finished job that printed LOSSES, and what a client polling CloudWatch saw while it trained."""
    code = upload_source(s3, bucket, {"curve.py": CURVE}, "code/curve/sourcedir.tar.gz")
    name = unique("curve")
    sm.create_training_job(
        **training_request(
            name,
            {"train": channels["train"]},
            f"s3://{bucket}/output",
            hyperparameters={"sagemaker_program": "curve.py", "sagemaker_submit_directory": code},
            AlgorithmSpecification={"MetricDefinitions": [{"Name": "loss", "Regex": r"loss=([0-9.]+);"}]},
        )
    )
    wait_for_status(sm, name, {"Training"})
    deadline = time.monotonic() + 30
    while True:
        now = datetime.now(UTC)
        seen = _statistics(cloudwatch, name, now - timedelta(minutes=5), now + timedelta(minutes=1), 1)
        status = sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"]
        if seen or status != "InProgress":
            break
        assert time.monotonic() < deadline, "no metric reached CloudWatch"
        time.sleep(0.2)
    described = wait_until(
        lambda: sm.describe_training_job(TrainingJobName=name),
        lambda d: d["TrainingJobStatus"] != "InProgress",
        f"training job {name}",
        interval=0.02,
    )
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    # At once: the job's last value, printed just before it ended, is already there.
    now = datetime.now(UTC)
    at_end = _statistics(cloudwatch, name, now - timedelta(minutes=5), now + timedelta(minutes=1), 1)
    return {"name": name, "seen_while": status, "seen": seen, "at_end": at_end, "described": described}


def test_metric_values_reach_cloudwatch_while_the_job_trains(curve_job):
    assert curve_job["seen_while"] == "InProgress"
    assert curve_job["seen"][0]["Average"] == LOSSES[0]


def test_every_value_is_in_cloudwatch_when_the_job_is_completed(curve_job):
    assert [p["Average"] for p in curve_job["at_end"]] == LOSSES


def test_get_metric_statistics_returns_each_value_at_its_emission_time(cloudwatch, curve_job):
    described = curve_job["described"]
    start, end = described["TrainingStartTime"], described["TrainingEndTime"]
    points = _statistics(cloudwatch, curve_job["name"], start, end + timedelta(minutes=1), 1)
    assert [p["Average"] for p in points] == LOSSES
    assert all(p["SampleCount"] == 1 for p in points)
    stamps = [p["Timestamp"] for p in points]
    assert start.replace(microsecond=0) <= stamps[0] and stamps[-1] <= end
    assert all(1.0 <= (b - a).total_seconds() < 3 for a, b in zip(stamps, stamps[1:], strict=False))
    # By minute: every value once, whichever minutes the job spanned.
    minutes = _statistics(cloudwatch, curve_job["name"], start, end + timedelta(minutes=1), 60)
    assert sum(p["SampleCount"] for p in minutes) == len(LOSSES)
    assert min(p["Minimum"] for p in minutes) == min(LOSSES) and max(p["Maximum"] for p in minutes) == max(LOSSES)
    listed = cloudwatch.list_metrics(
        Namespace=NAMESPACE, Dimensions=[{"Name": "TrainingJobName", "Value": curve_job["name"]}]
    )["Metrics"]
    assert [m["MetricName"] for m in listed] == ["loss"]


def test_sdk_training_job_analytics_reads_the_curve(bucket, curve_job):
    import boto3
    from sagemaker.core.analytics import TrainingJobAnalytics
    from sagemaker.core.helper.session_helper import Session

    session = Session(boto_session=boto3.Session(region_name="us-east-1"), default_bucket=bucket)
    frame = TrainingJobAnalytics(curve_job["name"], metric_names=["loss"], sagemaker_session=session, period=1)
    curve = frame.dataframe()
    assert list(curve["metric_name"]) == ["loss"] * len(LOSSES)
    assert list(curve["value"]) == LOSSES
    assert curve["timestamp"].iloc[0] == 0 and curve["timestamp"].is_monotonic_increasing
    # The SDK's default period, a minute: the values' averages, per minute the job spanned.
    by_minute = TrainingJobAnalytics(curve_job["name"], metric_names=["loss"], sagemaker_session=session)
    averages = list(by_minute.dataframe()["value"])
    assert 1 <= len(averages) <= 2 and all(min(LOSSES) <= v <= max(LOSSES) for v in averages)

"""The publisher of training metrics to CloudWatch: batching, timing, and a CloudWatch that fails or hangs."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from include.local_sagemaker.runner.cloudwatch_metrics import MAX_DATUMS_PER_CALL, NAMESPACE, MetricPublisher

T0 = datetime(2025, 1, 1, tzinfo=UTC)


class FakeCloudWatch:
    """Records put_metric_data calls; can fail or block them."""

    def __init__(self, fail: bool = False, gate: threading.Event | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail = fail
        self.gate = gate

    def put_metric_data(self, **kwargs: Any) -> None:
        if self.gate is not None:
            self.gate.wait()
        if self.fail:
            raise RuntimeError("CloudWatch is down")
        self.calls.append(kwargs)

    @property
    def data(self) -> list[dict[str, Any]]:
        return [d for call in self.calls for d in call["MetricData"]]


def test_values_are_sent_as_sagemaker_names_them_with_their_emission_times():
    cloudwatch = FakeCloudWatch()
    publisher = MetricPublisher(cloudwatch, "job-1")
    publisher.add("validation:auc", 0.75, T0)
    publisher.add("validation:auc", 0.8, T0 + timedelta(seconds=1))
    publisher.close()
    assert [c["Namespace"] for c in cloudwatch.calls] == [NAMESPACE]
    assert cloudwatch.data == [
        {
            "MetricName": "validation:auc",
            "Dimensions": [{"Name": "TrainingJobName", "Value": "job-1"}],
            "Timestamp": T0 + timedelta(seconds=s),
            "Value": v,
            "StorageResolution": 1,
        }
        for s, v in ((0, 0.75), (1, 0.8))
    ]


def test_values_are_sent_while_the_job_runs_not_only_at_its_end():
    cloudwatch = FakeCloudWatch()
    publisher = MetricPublisher(cloudwatch, "job-1", flush_seconds=0.05)
    publisher.add("loss", 0.5, T0)
    deadline = time.monotonic() + 5
    while not cloudwatch.data:
        assert time.monotonic() < deadline, "nothing was sent before close()"
        time.sleep(0.01)
    publisher.add("loss", 0.4, T0)
    publisher.close()
    assert [d["Value"] for d in cloudwatch.data] == [0.5, 0.4]


def test_thousands_of_values_go_in_requests_of_at_most_1000():
    cloudwatch = FakeCloudWatch()
    publisher = MetricPublisher(cloudwatch, "job-1", flush_seconds=60)
    for i in range(2500):
        publisher.add("loss", float(i), T0 + timedelta(milliseconds=i))
    publisher.close()
    assert [len(c["MetricData"]) for c in cloudwatch.calls] == [MAX_DATUMS_PER_CALL, MAX_DATUMS_PER_CALL, 500]
    assert [d["Value"] for d in cloudwatch.data] == [float(i) for i in range(2500)]


@pytest.mark.parametrize("metric_name", ["m" * 255, "\u00e9" * 255, '"\\' * 127])
def test_long_metric_names_keep_requests_under_a_megabyte_in_every_encoding(metric_name):
    """PutMetricData takes at most 1 MB; botocore may speak CBOR, JSON or query (the largest) to CloudWatch."""
    import urllib.parse

    import botocore.session
    from botocore.serialize import create_serializer

    cloudwatch = FakeCloudWatch()
    publisher = MetricPublisher(cloudwatch, "j" * 63, flush_seconds=60)
    for i in range(1000):
        publisher.add(metric_name, 1.2345678901234e-300 * (i + 1), T0)
    publisher.close()
    assert len(cloudwatch.data) == 1000
    operation = botocore.session.get_session().get_service_model("cloudwatch").operation_model("PutMetricData")
    for protocol in ("smithy-rpc-v2-cbor", "json", "query"):
        for call in cloudwatch.calls:
            body = create_serializer(protocol).serialize_to_request(call, operation)["body"]
            size = len(urllib.parse.urlencode(body)) if isinstance(body, dict) else len(body)
            assert size < 1_000_000, (protocol, len(call["MetricData"]))


def test_values_cloudwatch_refuses_are_skipped_not_the_batch_with_them():
    cloudwatch = FakeCloudWatch()
    publisher = MetricPublisher(cloudwatch, "job-1")
    for value in (float("nan"), float("inf"), -float("inf"), 2.0**361, 0.5):
        publisher.add("loss", value, T0)
    publisher.close()
    assert [d["Value"] for d in cloudwatch.data] == [0.5]


def test_a_failing_cloudwatch_is_logged_and_does_not_raise(caplog):
    publisher = MetricPublisher(FakeCloudWatch(fail=True), "job-1")
    publisher.add("loss", 0.5, T0)
    with caplog.at_level(logging.WARNING):
        publisher.close()
    assert "could not publish 1 metric values of job-1 to CloudWatch: CloudWatch is down" in caplog.text


def test_a_hung_cloudwatch_holds_the_job_no_longer_than_the_close_timeout(caplog):
    gate = threading.Event()
    publisher = MetricPublisher(FakeCloudWatch(gate=gate), "job-1", flush_seconds=0.01)
    started = time.monotonic()
    publisher.add("loss", 0.5, T0)  # never blocks, though CloudWatch does
    time.sleep(0.05)
    with caplog.at_level(logging.WARNING):
        publisher.close(timeout=0.2)
    assert time.monotonic() - started < 1
    assert "CloudWatch is slow" in caplog.text
    gate.set()


@pytest.mark.parametrize("values", [0, 1])
def test_close_is_quick_and_later_values_are_dropped(values):
    cloudwatch = FakeCloudWatch()
    publisher = MetricPublisher(cloudwatch, "job-1")
    for _ in range(values):
        publisher.add("loss", 0.5, T0)
    publisher.close()
    publisher.add("loss", 0.1, T0)
    publisher.close()
    assert len(cloudwatch.data) == values

"""Publish a training job's metrics to CloudWatch Metrics while it runs, as SageMaker does.

SageMaker parses the algorithm's log with the job's MetricDefinitions (the built-in algorithms' own included)
and "sends those metrics to CloudWatch in real time", in the namespace `/aws/sagemaker/TrainingJobs` with the
dimension `TrainingJobName`, one CloudWatch metric per definition Name:
https://docs.aws.amazon.com/sagemaker/latest/dg/training-metrics.html (Monitor and analyze training jobs using
Amazon CloudWatch metrics; Define training metrics). The SDK's `TrainingJobAnalytics` reads them back with
GetMetricStatistics between TrainingStartTime and TrainingEndTime, so each value carries the time its log
line was read. The same page notes CloudWatch's 1-second resolution for these metrics: values are stored as
high-resolution, which makes Period=1 a valid query of them.

A CloudWatch failure never fails or slows the job: the reader thread only appends to a list, a thread of
this publisher sends every FLUSH_SECONDS, and `close` (before the job turns terminal, so that a client that
sees Completed finds every value) waits at most CLOSE_TIMEOUT_SECONDS. Values CloudWatch would refuse
(NaN, ±Infinity, beyond ±2^360) are skipped rather than making it refuse the whole batch with them.
"""

from __future__ import annotations

import logging
import math
import threading
import urllib.parse
from collections.abc import Iterator
from datetime import datetime
from typing import Any

log = logging.getLogger(__name__)

NAMESPACE = "/aws/sagemaker/TrainingJobs"
DIMENSION = "TrainingJobName"
FLUSH_SECONDS = 1.0
CLOSE_TIMEOUT_SECONDS = 10.0
# PutMetricData takes at most 1000 metrics and 1 MB a request:
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricData.html
MAX_DATUMS_PER_CALL = 1000
MAX_BYTES_PER_CALL = 900_000
# A datum's bytes in the largest of botocore's encodings of it (query: percent-encoded, beyond its names and
# values some 360 bytes of keys), so that long or non-ASCII metric names keep a request under 1 MB.
_DATUM_OVERHEAD = 400
_LARGEST_VALUE = 2.0**360


class MetricPublisher:
    """One job's metric values on their way to CloudWatch. `add` from any thread, `close` once at the end."""

    def __init__(self, cloudwatch: Any, job_name: str, flush_seconds: float = FLUSH_SECONDS) -> None:
        self.cloudwatch = cloudwatch
        self.job_name = job_name
        self.flush_seconds = flush_seconds
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    def add(self, name: str, value: float, at: datetime) -> None:
        """Queue one value emitted at `at`; the sending thread starts with the job's first value."""
        if not math.isfinite(value) or abs(value) > _LARGEST_VALUE:
            log.info("metric %s of %s: CloudWatch takes no value %r; not published", name, self.job_name, value)
            return
        datum = {
            "MetricName": name,
            "Dimensions": [{"Name": DIMENSION, "Value": self.job_name}],
            "Timestamp": at,
            "Value": value,
            "StorageResolution": 1,
        }
        with self._lock:
            if self._closed:
                log.warning("metric %s of %s came after the job ended; not published", name, self.job_name)
                return
            self._pending.append(datum)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=f"metrics-{self.job_name}", daemon=True)
                self._thread.start()

    def close(self, timeout: float = CLOSE_TIMEOUT_SECONDS) -> None:
        """Send what is pending and stop, waiting at most `timeout` seconds for a slow CloudWatch."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is None:
            return
        self._stop.set()
        thread.join(timeout)
        if thread.is_alive():
            log.warning("CloudWatch is slow: metrics of %s may arrive after the job ended", self.job_name)

    def _run(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            self._send_pending()
        self._send_pending()

    def _send_pending(self) -> None:
        """Send the values queued so far. A failed request (after botocore's own retries) is logged and its
        values dropped: queueing them again would grow without bound while CloudWatch is down."""
        with self._lock:
            data, self._pending = self._pending, []
        for batch in _batches(data):
            try:
                self.cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=batch)
            except Exception as exc:
                log.warning(
                    "could not publish %d metric values of %s to CloudWatch: %s", len(batch), self.job_name, exc
                )


def _batches(data: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """PutMetricData requests of at most MAX_DATUMS_PER_CALL values and about MAX_BYTES_PER_CALL bytes."""
    batch: list[dict[str, Any]] = []
    size = 0
    for datum in data:
        datum_size = (
            _DATUM_OVERHEAD
            + len(urllib.parse.quote(datum["MetricName"], safe=""))
            + len(urllib.parse.quote(datum["Dimensions"][0]["Value"], safe=""))
        )
        if batch and (len(batch) == MAX_DATUMS_PER_CALL or size + datum_size > MAX_BYTES_PER_CALL):
            yield batch
            batch, size = [], 0
        batch.append(datum)
        size += datum_size
    if batch:
        yield batch

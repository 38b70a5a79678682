"""Ship a job's log lines to CloudWatch Logs, where the provider's `print_log` and the console read them."""

from __future__ import annotations

import threading
from typing import Any

TRAINING_LOG_GROUP = "/aws/sagemaker/TrainingJobs"
ENDPOINT_LOG_GROUP = "/aws/sagemaker/Endpoints/{name}"
_MAX_BATCH = 1000


class LogShipper:
    def __init__(self, logs: Any, group: str, stream: str) -> None:
        self.logs = logs
        self.group = group
        self.stream = stream
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._ready = False

    def _ensure_stream(self) -> None:
        if self._ready:
            return
        for call, kwargs in (
            (self.logs.create_log_group, {"logGroupName": self.group}),
            (self.logs.create_log_stream, {"logGroupName": self.group, "logStreamName": self.stream}),
        ):
            try:
                call(**kwargs)
            except self.logs.exceptions.ResourceAlreadyExistsException:
                pass
        self._ready = True

    def add(self, message: str, timestamp_ms: int) -> None:
        with self._lock:
            self._pending.append({"timestamp": timestamp_ms, "message": message or " "})

    def flush(self) -> None:
        with self._lock:
            events, self._pending = self._pending, []
        if not events:
            return
        self._ensure_stream()
        for start in range(0, len(events), _MAX_BATCH):
            self.logs.put_log_events(
                logGroupName=self.group,
                logStreamName=self.stream,
                logEvents=events[start : start + _MAX_BATCH],
            )

"""What a long-lived local SageMaker leaves behind: finished training jobs written straight into a state directory
with the service's own store and resource code, for tests and benchmarks of listing, describing and restarting at
scale (creating them through the API would train each one)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from harness.local_sagemaker import REGION, training_request
from include.local_sagemaker.models.store import StateStore
from include.local_sagemaker.models.training import TrainingJob

GROUPS = ("alpha", "beta", "gamma")
BASE = datetime(2025, 1, 1, tzinfo=UTC)


def seeded_name(i: int, count: int) -> str:
    """Job i of `count`: a permutation of the indices (7919 is prime), so that Name order is not creation order."""
    return f"hist-{GROUPS[i % 3]}-{(i * 7919) % count:05d}"


def seeded_status(i: int) -> str:
    return {0: "Failed", 1: "Stopped"}.get(i % 10, "Completed")


def finished_job(i: int, count: int) -> TrainingJob:
    """Job i of the history: created at BASE + 2i seconds, trained 60 s, finished in a terminal status."""
    name, status = seeded_name(i, count), seeded_status(i)
    job = TrainingJob(REGION, training_request(name, {"train": "s3://history/train/"}, "s3://history/output"))
    job.created = BASE + timedelta(seconds=2 * i)
    job.started = job.created + timedelta(seconds=5)
    job.ended = job.modified = job.started + timedelta(seconds=60)
    job.status, job.secondary = status, status
    job.transitions = [
        {"Status": "Starting", "StartTime": job.created, "EndTime": job.started, "StatusMessage": "Starting"},
        {"Status": "Training", "StartTime": job.started, "EndTime": job.ended, "StatusMessage": "Training"},
        {"Status": status, "StartTime": job.ended, "EndTime": job.ended, "StatusMessage": f"Training job {status}"},
    ]
    job.failure_reason = "AlgorithmError: seeded failure" if status == "Failed" else None
    job.metrics = {"validation:auc": [[job.ended, 0.5 + i / (4 * count)]]}
    job.training_seconds = job.billable_seconds = 65
    return job


def seed_history(state_dir: Path, count: int) -> None:
    """`count` finished jobs in the store the server restores from (the path Runtime opens)."""
    store = StateStore(state_dir / "state.sqlite3")
    try:
        for i in range(count):
            job = finished_job(i, count)
            store.put(REGION, TrainingJob.kind, job.name, job.record())
    finally:
        store.close()

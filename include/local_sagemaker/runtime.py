"""Everything the gateway owns at run time: state, per-region backends, the job runner, the endpoints."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from pathlib import Path
from typing import Any

from . import DEFAULT_ACCOUNT_ID
from .cloudwatch_persistence import CloudWatchPersistence
from .models.backend import SageMakerBackend
from .models.hosting import Endpoint, EndpointConfig
from .models.store import StateStore
from .models.training import TrainingJob
from .models.tuning import TuningJob
from .runner.training import SpotSettings, TrainingRunner
from .runner.tuning import TuningScheduler
from .s3_persistence import S3Persistence
from .serving.manager import EndpointManager

log = logging.getLogger(__name__)

KINDS = ("model", "endpoint-config", "tags", "training-job", "tuning-job", "endpoint")


class Runtime:
    def __init__(self, state_dir: Path, endpoint_url: str, spot: SpotSettings) -> None:
        self.state_dir = state_dir
        self.endpoint_url = endpoint_url
        self.store = StateStore(state_dir / "state.sqlite3")
        self.s3 = S3Persistence(state_dir / "s3")
        self.cloudwatch = CloudWatchPersistence(state_dir / "cloudwatch.sqlite3")
        self.training = TrainingRunner(state_dir / "jobs", endpoint_url, spot, self.client)
        self.endpoints = EndpointManager(state_dir / "endpoints", self.client)
        self._backends: dict[str, SageMakerBackend] = {}
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def backend(self, region: str) -> SageMakerBackend:
        with self._lock:
            if region not in self._backends:
                self._backends[region] = SageMakerBackend(region, self.store, self)
            return self._backends[region]

    def client(self, service: str, region: str) -> Any:
        """A boto3 client of this gateway. Clients are thread-safe once made; making them is not."""
        import boto3

        with self._lock:
            key = (service, region)
            if key not in self._clients:
                session = boto3.session.Session(
                    aws_access_key_id="local",
                    aws_secret_access_key="local",  # noqa: S106 - the local services accept any
                    region_name=region,
                )
                self._clients[key] = session.client(service, endpoint_url=self.endpoint_url)
            return self._clients[key]

    def load(self) -> dict[str, int]:
        """Load what the last run stored: S3 objects, log groups and streams into moto, resources into the backends."""
        _create_execution_role()
        counts = {"s3_objects": self.s3.restore(), **self.cloudwatch.restore()}
        for kind in KINDS:
            for region, name, body in self.store.load(kind):
                self.backend(region).restore(kind, name, body)
                counts[kind] = counts.get(kind, 0) + 1
        return counts

    def resume(self) -> None:
        """Resume or fail the jobs the last run left running; bring its endpoints back. Needs the gateway up."""
        for backend in list(self._backends.values()):
            for job in list(backend.training_jobs.values()):
                if not job.terminal:
                    self._recover_job(backend, job)
            for endpoint in list(backend.endpoints.values()):
                self._recover_endpoint(backend, endpoint)
            for tuning in list(backend.tuning_jobs.values()):
                if not tuning.terminal:
                    self.start_tuning(backend, tuning)

    # --- the backends' Launcher ----------------------------------------------------------------
    def start_training(self, backend: SageMakerBackend, job: TrainingJob) -> None:
        self.training.start(backend, job)

    def start_tuning(self, backend: SageMakerBackend, tuning: TuningJob) -> None:
        """Run a tuning job's scheduler: on creation, and again after a restart."""
        TuningScheduler(backend, tuning).start()

    def deploy(self, backend: SageMakerBackend, endpoint: Endpoint, config: EndpointConfig) -> None:
        self.endpoints.deploy(backend, endpoint, config)

    def undeploy(self, endpoint: Endpoint) -> None:
        self.endpoints.undeploy(endpoint)

    def _recover_job(self, backend: SageMakerBackend, job: TrainingJob) -> None:
        for pid in job.pids:
            _kill_stale(pid, marker=job.name)
        job.pids = []
        if job.status == "Stopping":
            job.finish("Stopped", "Stopped", "Training job stopped")
        elif job.spec.get("CheckpointConfig"):
            job.set_secondary("Restarting", "The local SageMaker restarted: resuming from the last checkpoint")
            backend.save(job)
            self.training.start(backend, job)
            return
        elif job.may_retry():  # the crash is the job's internal error; RetryStrategy retries it from the start
            job.retries += 1
            job.set_secondary(
                "Restarting",
                f"The local SageMaker restarted: retrying the job (RetryStrategy retry {job.retries} of "
                f"{job.spec['RetryStrategy']['MaximumRetryAttempts']})",
            )
            backend.save(job)
            self.training.start(backend, job)
            return
        else:
            job.finish(
                "Failed",
                "Failed",
                "Training job failed",
                reason="InternalServerError: the local SageMaker stopped while this job was running, and the job "
                "has no CheckpointConfig to resume from nor a RetryStrategy retry left. Create it again to retrain.",
                retryable=True,
            )
        backend.save(job)

    def _recover_endpoint(self, backend: SageMakerBackend, endpoint: Endpoint) -> None:
        if endpoint.status not in ("InService", "Creating", "Updating"):
            return
        if endpoint.status == "Updating":
            endpoint.pending_config = None
            endpoint.set_status("InService", "An update was interrupted by a restart and rolled back.")
            backend.save(endpoint)
        config = backend.endpoint_configs.get(endpoint.config_name)
        if config is None:
            endpoint.set_status("Failed", f"Endpoint configuration {endpoint.config_name} no longer exists.")
            backend.save(endpoint)
            return
        self.endpoints.deploy(backend, endpoint, config)

    def shutdown(self) -> None:
        self.endpoints.shutdown()
        # Each S3 write was persisted before its answer; a last reconcile with moto stores, and logs at ERROR,
        # anything a bug let through, so that a clean stop never loses it.
        self.s3.reconcile()
        self.store.close()
        self.s3.close()
        self.cloudwatch.close()


EXECUTION_ROLE = "SageMakerRole"


def _create_execution_role() -> None:
    """arn:aws:iam::123456789012:role/SageMakerRole, trusted by SageMaker, as an account set up for it has.

    IAM is not enforced locally; the role exists so that clients which look it up (the SageMaker SDK v3
    checks its trust policy before training) find what they would find in a real account.
    """
    from moto.iam.models import iam_backends

    iam = iam_backends[DEFAULT_ACCOUNT_ID]["global"]
    if any(role.name == EXECUTION_ROLE for role in iam.get_roles()):
        return
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    iam.create_role(EXECUTION_ROLE, json.dumps(trust), "/", None, "SageMaker execution role (local)", [], None)


def _kill_stale(pid: int, marker: str) -> None:
    """Kill a process group the last run left behind, if that pid still belongs to it."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return
    if marker.encode() not in cmdline + environ:
        return
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass

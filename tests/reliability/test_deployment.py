"""Deployment safety: clients calling the endpoint see no failure while the pipeline updates it blue/green, and
none while it rolls back a model that failed the smoke test.

The pipeline's own functions (include/pipeline/deploy.py, what the deploy and smoke_test tasks call) drive a
real endpoint of the session's local SageMaker; a paced loop of invocations runs alongside, loopback only, and
stops by itself. That a worse challenger is never deployed is shown through whole DAG runs in
tests/integration/test_hpo_nightly.py and by deploy_decision's unit tests.
"""

from __future__ import annotations

import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from harness.local_sagemaker import (
    ROLE,
    XGBOOST_IMAGE,
    synthetic_csv,
    training_request,
    unique,
    upload_source,
    wait_for_job,
)
from include.pipeline.deploy import SmokeTestError, check_endpoint, deploy_model, rollback, serving_environment
from tests.reliability.figures import record, scaled
from tests.specs import FLIGHT_METRIC_DEFINITIONS

TRAIN_SCRIPT = Path(__file__).resolve().parents[2] / "training_scripts" / "flight_delay" / "train.py"
RATE = 25.0  # invocations per second the loop aims at; the issue asks for at least 20
ROWS = [line.split(",", 1) for line in synthetic_csv(rows=50, seed=3).splitlines()]
FEATURES = "\n".join(features for _, features in ROWS)
LABELS = [int(float(label)) for label, _ in ROWS]


class Invocations:
    """Calls the endpoint RATE times a second from a thread until stopped, or for at most `limit` seconds."""

    def __init__(self, runtime: Any, endpoint: str, limit: float = 120) -> None:
        assert urllib.parse.urlsplit(runtime.meta.endpoint_url).hostname == "127.0.0.1"  # loopback only
        self.runtime, self.endpoint, self.limit = runtime, endpoint, limit
        self.calls = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        start = time.monotonic()
        while not self._stop.is_set() and time.monotonic() - start < self.limit:
            try:
                reply = self.runtime.invoke_endpoint(EndpointName=self.endpoint, ContentType="text/csv", Body="1,0,0,0")
                reply["Body"].read()
            except (ClientError, BotoCoreError) as error:
                self.failures.append(str(error))
            self.calls += 1
            self._stop.wait(max(0.0, start + self.calls / RATE - time.monotonic()))  # paced, never a burst
        self.seconds = time.monotonic() - start

    def __enter__(self) -> Invocations:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.5)  # and a moment after the switch, while the old variant drains
        self._stop.set()
        self._thread.join()

    @property
    def rate(self) -> float:
        return self.calls / self.seconds


@pytest.fixture(scope="module")
def artifacts(sm, s3, bucket, channels) -> dict[str, str]:
    """Two models trained by training_scripts/flight_delay/train.py (served by the same file), and its code archive."""
    code = upload_source(s3, bucket, {"train.py": TRAIN_SCRIPT}, "code/deployment/sourcedir.tar.gz")
    names = {depth: unique(f"deploy-{depth}") for depth in ("2", "4")}
    for depth, name in names.items():
        hyperparameters = {
            "num_round": "5",
            "max_depth": depth,
            "sagemaker_program": "train.py",
            "sagemaker_submit_directory": code,
        }
        sm.create_training_job(
            **training_request(
                name,
                channels,
                f"s3://{bucket}/output",
                hyperparameters=hyperparameters,
                AlgorithmSpecification={"MetricDefinitions": FLIGHT_METRIC_DEFINITIONS},
            )
        )
    out = {"code": code}
    for depth, name in names.items():
        job = wait_for_job(sm, name)
        assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
        out[depth] = job["ModelArtifacts"]["S3ModelArtifacts"]
    return out


def deploy(sm: Any, endpoint: str, artifact: str, code: str) -> Any:
    return deploy_model(
        sm,
        endpoint=endpoint,
        model_name=unique("model"),
        config_name=unique("config"),
        image=XGBOOST_IMAGE,
        model_artifact=artifact,
        environment=serving_environment(code, "train.py"),
        role_arn=ROLE,
        poll=0.2,
        timeout=120,
    )


def test_no_invocation_fails_during_an_update_and_a_rollback(sm, sm_runtime, artifacts):
    endpoint = unique("safe-deploy")
    first = deploy(sm, endpoint, artifacts["2"], artifacts["code"])
    assert first.action == "created"

    with Invocations(sm_runtime, endpoint, limit=scaled(120, 600)) as update:
        second = deploy(sm, endpoint, artifacts["4"], artifacts["code"])
    assert second.action == "updated" and second.previous_config == first.endpoint_config
    assert sm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"] == second.endpoint_config

    # The smoke test of the new model fails (here: it cannot score the AUC the evaluation promised) ...
    with pytest.raises(SmokeTestError):
        check_endpoint(sm_runtime, endpoint, FEATURES, LABELS, "auc", 0.0, expected=2.0)
    # ... and the smoke_test task rolls back, while clients keep calling.
    with Invocations(sm_runtime, endpoint, limit=scaled(120, 600)) as back:
        done = rollback(sm, second, poll=0.2, timeout=120)
    assert done == f"rolled endpoint {endpoint} back to {first.endpoint_config}"
    described = sm.describe_endpoint(EndpointName=endpoint)
    assert described["EndpointStatus"] == "InService" and described["EndpointConfigName"] == first.endpoint_config

    for loop in (update, back):
        assert loop.failures == [], loop.failures[:5]
        assert loop.rate >= 20, f"{loop.calls} calls in {loop.seconds:.1f}s"
    sm.delete_endpoint(EndpointName=endpoint)
    record("deployment", "invocations during a blue/green update, failed", f"{update.calls}, {len(update.failures)}")
    record("deployment", "invocations during a rollback, failed", f"{back.calls}, {len(back.failures)}")
    record("deployment", "invocation rate during update / rollback (per s)", f"{update.rate:.1f} / {back.rate:.1f}")

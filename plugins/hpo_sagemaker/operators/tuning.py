"""The provider's SageMakerTuningOperator, made safe to retry, clear and kill.

Upstream, a retried task whose first try created the tuning job fails with ResourceInUse, a Stopped tuning
job counts as success on the synchronous path, `on_kill` does nothing and the XCom is the whole describe
result. Here the job name is the caller's deterministic per-run name (include/pipeline/naming.py) and:

- before creating, Describe: a missing job (ResourceNotFound) is created with a tag holding the hash of its
  config; an existing one with the same hash is reattached (waited for, or its result returned); one with a
  different hash fails the task with a message naming both, never pays twice;
- while waiting, one line per poll: `7/20 jobs done, 2 running, best validation:auc=0.7312`;
- Failed and Stopped end the task with the job's reason; `on_kill` stops the tuning job;
- the XCom is a compact summary (names, best job, objective, times, artifact URI).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.operators.sagemaker import SageMakerTuningOperator
from botocore.exceptions import ClientError

from include.pipeline.tuning_summary import CONFIG_HASH_TAG, config_hash, progress_line, summarize

if TYPE_CHECKING:
    from airflow.sdk import Context

TERMINAL = {"Completed", "Failed", "Stopped"}


class TuningJobError(Exception):
    """The tuning job ended Failed or Stopped, or a different job holds its name."""


class ReattachingTuningOperator(SageMakerTuningOperator):
    def __init__(self, *, config: dict, check_interval: int = 30, **kwargs: Any) -> None:
        kwargs.pop("deferrable", None)  # waiting happens here, in the worker; see the note in the module docstring
        super().__init__(config=config, check_interval=check_interval, wait_for_completion=True, **kwargs)
        self._created: str | None = None

    def execute(self, context: Context) -> dict[str, Any]:
        self.preprocess_config()
        name = self.config["HyperParameterTuningJobName"]
        digest = config_hash(self.config)
        described = self._describe_or_none(name)
        if described is None:
            tags = [t for t in self.config.get("Tags", []) if t["Key"] != CONFIG_HASH_TAG]
            self.config["Tags"] = [*tags, {"Key": CONFIG_HASH_TAG, "Value": digest}]
            self.log.info("Creating tuning job %s (config %s)", name, digest)
            self.hook.get_conn().create_hyper_parameter_tuning_job(**self.config)
        else:
            self._check_same_config(name, described, digest)
            self.log.info("Reattaching to tuning job %s (%s)", name, described["HyperParameterTuningJobStatus"])
        self._created = name
        described = self._wait(name)
        return summarize(described, self._best_artifact(described))

    def on_kill(self) -> None:
        if not self._created:
            return
        try:
            self.hook.get_conn().stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=self._created)
            self.log.info("Stopped tuning job %s", self._created)
        except ClientError as exc:  # already ended: nothing to stop
            self.log.info("Tuning job %s not stopped: %s", self._created, exc.response["Error"].get("Message"))

    # --- helpers ---------------------------------------------------------------------------------
    def _describe_or_none(self, name: str) -> dict[str, Any] | None:
        try:
            return self.hook.get_conn().describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ResourceNotFound":
                return None
            raise

    def _check_same_config(self, name: str, described: dict[str, Any], digest: str) -> None:
        tags = self.hook.get_conn().list_tags(ResourceArn=described["HyperParameterTuningJobArn"])["Tags"]
        existing = next((t["Value"] for t in tags if t["Key"] == CONFIG_HASH_TAG), None)
        if existing != digest:
            raise TuningJobError(
                f"Tuning job {name} exists with a different configuration (config hash {existing}, this task's "
                f"{digest}). A run's job name must not be reused for another config: clear the run with a new "
                "run id, or delete the old tuning job."
            )

    def _wait(self, name: str) -> dict[str, Any]:
        conn = self.hook.get_conn()
        last = ""
        while True:
            described = conn.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
            line = progress_line(described)
            if line != last:
                self.log.info("%s: %s", name, line)
                last = line
            status = described["HyperParameterTuningJobStatus"]
            if status in TERMINAL:
                break
            time.sleep(self.check_interval)
        if status != "Completed":
            raise TuningJobError(
                f"Tuning job {name} ended {status}: {described.get('FailureReason', 'stopped before completing')}"
            )
        return described

    def _best_artifact(self, described: dict[str, Any]) -> str | None:
        best = described.get("BestTrainingJob")
        if not best:
            return None
        job = self.hook.get_conn().describe_training_job(TrainingJobName=best["TrainingJobName"])
        return job["ModelArtifacts"]["S3ModelArtifacts"]

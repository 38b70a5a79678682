"""The SageMaker calls the tuning operator makes, each named for what it asks.

A SageMakerHook, so connection, region, endpoint_url and retries are the provider's. Imported by the operator
only when it runs (the provider's hook module pulls in boto3, which DAG parsing must not pay for).
"""

from __future__ import annotations

from typing import Any

from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook
from botocore.exceptions import ClientError


class TuningHook(SageMakerHook):
    def describe_tuning_job_or_none(self, name: str) -> dict[str, Any] | None:
        """DescribeHyperParameterTuningJob, or None when no tuning job has this name."""
        try:
            return self.describe_tuning_job(name)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ResourceNotFound":
                return None
            raise

    def start_tuning_job(self, config: dict[str, Any]) -> None:
        """Create the tuning job and return at once (the provider's create_tuning_job also checks S3 and waits)."""
        self.conn.create_hyper_parameter_tuning_job(**config)

    def stop_tuning_job(self, name: str) -> str | None:
        """Stop a running tuning job; None if it stopped, else why not (it had already ended: a ValidationException).
        Any other error (throttling, access denied, no such job) is raised: the job may still be running."""
        try:
            self.conn.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ValidationException":
                raise
            return exc.response["Error"].get("Message") or exc.response["Error"]["Code"]
        return None

    def tag_value(self, arn: str, key: str) -> str | None:
        tags = self.conn.list_tags(ResourceArn=arn)["Tags"]
        return next((t["Value"] for t in tags if t["Key"] == key), None)

    def first_training_job(self, tuning_job_name: str) -> dict[str, Any] | None:
        """DescribeTrainingJob of the tuning job's first training job, or None while it has none."""
        listed = self.conn.list_training_jobs_for_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=tuning_job_name, MaxResults=1, SortBy="CreationTime", SortOrder="Ascending"
        )["TrainingJobSummaries"]
        return self.describe_training_job(listed[0]["TrainingJobName"]) if listed else None

    def model_artifact(self, training_job_name: str) -> str:
        return self.describe_training_job(training_job_name)["ModelArtifacts"]["S3ModelArtifacts"]

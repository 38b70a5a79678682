"""The metric-regex operator runs the real training script on the local SageMaker's S3 channels."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.specs import FLIGHT_METRIC_DEFINITIONS

TRAIN_SCRIPT = Path(__file__).resolve().parents[2] / "training_scripts" / "flight_delay" / "train.py"


def metric_operator(**kwargs):
    from hpo_sagemaker.operators import MetricRegexValidationOperator

    return MetricRegexValidationOperator(task_id="validate_metrics", **kwargs)


def test_the_training_scripts_definitions_pass_on_its_real_output(local_sagemaker, channels):
    result = metric_operator(
        metric_definitions=FLIGHT_METRIC_DEFINITIONS,
        objective_metric="validation:auc",
        intermediate=True,
        entry_point=str(TRAIN_SCRIPT),
        entry_point_args=["--num_round", "3"],
        sample_channels=channels,
    ).execute({})
    assert result["checked_lines"] >= 3
    assert result["metrics"] == [d["Name"] for d in FLIGHT_METRIC_DEFINITIONS]


def test_a_regex_the_script_does_not_match_fails_before_anything_is_created(local_sagemaker, channels):
    from hpo_sagemaker.operators.validation import MetricDefinitionError

    wrong = [{"Name": "validation:auc", "Regex": r"validation-auc:([0-9.]+)"}]  # written for the built-in format
    with pytest.raises(MetricDefinitionError) as caught:
        metric_operator(
            metric_definitions=wrong,
            objective_metric="validation:auc",
            entry_point=str(TRAIN_SCRIPT),
            entry_point_args=["--num_round", "2"],
            sample_channels=channels,
        ).execute({})
    message = str(caught.value)
    assert "validation:auc" in message and "validation-auc" in message and "matches no line" in message
    assert "[1] train:auc=" in message  # the lines it was tried on


def test_a_crashing_entry_point_is_reported_with_its_output(local_sagemaker, bucket, s3):
    from hpo_sagemaker.operators.validation import MetricDefinitionError

    s3.put_object(Bucket=bucket, Key="empty-sample/readme.txt", Body=b"")
    with pytest.raises(MetricDefinitionError, match="failed on the sample"):
        metric_operator(
            metric_definitions=FLIGHT_METRIC_DEFINITIONS,
            objective_metric="validation:auc",
            entry_point=str(TRAIN_SCRIPT),
            sample_channels={"train": f"s3://{bucket}/empty-sample/"},
        ).execute({})

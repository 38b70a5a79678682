"""The metric-regex and spot operators on sample logs and definitions, in-process."""

from __future__ import annotations

import pytest

from include.pipeline.spot import SpotConfigError


def metric_operator(**kwargs):
    from hpo_sagemaker.operators import MetricRegexValidationOperator

    return MetricRegexValidationOperator(task_id="validate_metrics", **kwargs)


def test_a_json_printing_script_is_caught_from_a_sample_log():
    from hpo_sagemaker.operators.validation import MetricDefinitionError

    with pytest.raises(MetricDefinitionError, match="as JSON"):
        metric_operator(
            metric_definitions=[{"Name": "validation:accuracy", "Regex": r"validation:accuracy=([0-9.]+)"}],
            objective_metric="validation:accuracy",
            sample_log=['{"validation:accuracy": 0.91}'],
        ).execute({})


def test_spot_operator_sets_spot_and_logs_the_worst_case(capfd):
    from hpo_sagemaker.operators import SpotTrainingConfigOperator

    definition = {
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }
    out = SpotTrainingConfigOperator(
        task_id="spot_config", definition=definition, use_spot=True, checkpoint_uri="s3://b/ckpt/run", max_jobs=20
    ).execute({})
    assert out["EnableManagedSpotTraining"] is True
    assert out["StoppingCondition"]["MaxWaitTimeInSeconds"] == 7200
    assert "$2.30 on-demand" in capfd.readouterr().out
    same = SpotTrainingConfigOperator(
        task_id="spot_config", definition=definition, use_spot="False", checkpoint_uri=None, max_jobs=20
    ).execute({})
    assert same == definition
    with pytest.raises(SpotConfigError, match="CheckpointConfig.S3Uri"):
        SpotTrainingConfigOperator(
            task_id="spot_config", definition=definition, use_spot=True, checkpoint_uri="ckpt", max_jobs=1
        ).execute({})

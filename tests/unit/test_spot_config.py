"""Spot settings for a training job definition, and the worst-case cost line (pure)."""

from __future__ import annotations

import pytest

from include.pipeline.spot import SpotConfigError, spot_definition, worst_case_cost

DEFINITION = {
    "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 10},
    "StoppingCondition": {"MaxRuntimeInSeconds": 1800},
    "StaticHyperParameters": {"num_round": "100"},
}


def test_use_spot_false_passes_the_definition_through_unchanged():
    out = spot_definition(DEFINITION, use_spot=False, checkpoint_uri=None)
    assert out == DEFINITION and out is not DEFINITION


def test_spot_sets_the_flag_a_sufficient_wait_and_a_checkpoint():
    out = spot_definition(DEFINITION, use_spot=True, checkpoint_uri="s3://b/checkpoints/run-1", wait_ratio=1.5)
    assert out["EnableManagedSpotTraining"] is True
    assert out["StoppingCondition"] == {"MaxRuntimeInSeconds": 1800, "MaxWaitTimeInSeconds": 2700}
    assert out["CheckpointConfig"] == {"S3Uri": "s3://b/checkpoints/run-1"}
    assert "EnableManagedSpotTraining" not in DEFINITION  # the input is not modified


@pytest.mark.parametrize(
    ("kwargs", "definition", "field"),
    [
        ({"wait_ratio": 0.5, "checkpoint_uri": "s3://b/c"}, DEFINITION, "wait_ratio"),
        ({"checkpoint_uri": None}, DEFINITION, "CheckpointConfig.S3Uri"),
        ({"checkpoint_uri": "/local/dir"}, DEFINITION, "CheckpointConfig.S3Uri"),
        (
            {"checkpoint_uri": "s3://b/c"},
            {**DEFINITION, "StoppingCondition": {"MaxRuntimeInSeconds": 600, "MaxWaitTimeInSeconds": 300}},
            "MaxWaitTimeInSeconds",
        ),
    ],
)
def test_inconsistent_spot_input_is_refused_naming_the_field(kwargs, definition, field):
    with pytest.raises(SpotConfigError, match=field):
        spot_definition(definition, use_spot=True, **kwargs)


def test_worst_case_cost_multiplies_the_budget_out():
    estimate = worst_case_cost(DEFINITION, max_jobs=20)
    assert estimate.instance_hours == pytest.approx(10.0)  # 20 jobs × 0.5 h
    assert estimate.on_demand_usd == pytest.approx(2.30)
    assert estimate.spot_usd == pytest.approx(0.69)
    assert "$2.30 on-demand" in estimate.describe() and "$0.69 on spot" in estimate.describe()
    unknown = worst_case_cost({**DEFINITION, "ResourceConfig": {"InstanceType": "ml.p5.48xlarge"}}, max_jobs=2)
    assert unknown.on_demand_usd is None and "no price" in unknown.describe()

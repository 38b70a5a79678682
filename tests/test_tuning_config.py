"""The DAG's Params to a tuning request (pure); every request built here is valid for the local SageMaker."""

from __future__ import annotations

import pytest

from include.local_sagemaker.models.tuning_validation import validate_create
from include.pipeline.tuning_config import ParamError, TuningParams, training_definition, tuning_request

DEFINITION = training_definition(
    image="683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
    role_arn="arn:aws:iam::123456789012:role/SageMakerRole",
    code_uri="s3://b/code/sourcedir.tar.gz",
    channels={"train": "s3://b/train/", "validation": "s3://b/validation/"},
    output_uri="s3://b/models",
    num_round=50,
)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"strategy": "Random", "max_jobs": "10", "max_parallel_jobs": "3"},
        {"strategy": "Grid", "max_parallel_jobs": 2},
        {"strategy": "Hyperband", "num_round": 81},
        {"strategy": "Bayesian", "early_stopping": "Auto", "use_spot": True},
        {"warm_start": "transfer", "parent_tuning_jobs": "parent-a, parent-b"},
    ],
)
def test_valid_params_build_requests_the_service_accepts(params):
    from include.local_sagemaker.models.tuning import TuningJob

    tuning = TuningParams.from_params(params)
    request = tuning_request("hpo-abc", tuning, DEFINITION, random_seed=7)
    parents = {}
    for name in tuning.parent_tuning_jobs:  # finished parents tuned the same way
        parent = TuningJob("us-east-1", tuning_request(name, TuningParams(), DEFINITION))
        parent.status = "Completed"
        parents[name] = parent
    validate_create(request, parents)
    assert request["HyperParameterTuningJobConfig"]["Strategy"] == tuning.strategy


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"strategy": "Hyperband", "early_stopping": "Auto"}, "early_stopping"),
        ({"strategy": "Smart"}, "strategy"),
        ({"max_jobs": 3, "max_parallel_jobs": 5}, "max_parallel_jobs"),
        ({"strategy": "Grid", "max_parallel_jobs": 20}, "max_parallel_jobs"),
        ({"max_jobs": 0}, "max_jobs"),
        ({"max_jobs": "many"}, "max_jobs"),
        ({"warm_start": "identical"}, "parent_tuning_jobs"),
        ({"warm_start": "none", "parent_tuning_jobs": ["a"]}, "parent_tuning_jobs"),
        ({"warm_start": "transfer", "parent_tuning_jobs": ["a", "b", "c", "d", "e", "f"]}, "parent_tuning_jobs"),
        ({"warm_start": "sideways"}, "warm_start"),
        ({"training_window_days": 0}, "training_window_days"),
        ({"validation_days": 8}, "validation_days"),
        ({"early_stopping": "Sometimes"}, "early_stopping"),
    ],
)
def test_invalid_combinations_name_the_param(params, param):
    with pytest.raises(ParamError, match=f"Param {param}"):
        TuningParams.from_params(params)


def test_the_grid_defines_the_job_count():
    tuning = TuningParams.from_params({"strategy": "Grid", "max_jobs": 99})
    request = tuning_request("hpo-grid", tuning, DEFINITION)
    assert "MaxNumberOfTrainingJobs" not in request["HyperParameterTuningJobConfig"]["ResourceLimits"]
    assert tuning.jobs == 12

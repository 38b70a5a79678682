"""A run's Params to a tuning request (pure), for each shipped spec; every request is valid for the local SageMaker."""

from __future__ import annotations

import pytest

from include.local_sagemaker.models.tuning_validation import validate_create
from include.pipeline.params import ParamError, RunParams, defaults
from include.pipeline.tuning_config import parameter_ranges, tuning_request
from tests.specs import FLIGHT, HOTEL, definition_for


@pytest.mark.parametrize("spec", [FLIGHT, HOTEL], ids=["flight", "hotel"])
@pytest.mark.parametrize(
    "params",
    [
        {},
        {"strategy": "Random", "max_jobs": "10", "max_parallel_jobs": "3"},
        {"strategy": "Grid", "max_parallel_jobs": 2},
        {"strategy": "Hyperband", "hyperparameters": {"num_round": 81}},
        {"strategy": "Bayesian", "early_stopping": "Auto", "use_spot": True},
        {"warm_start": "transfer", "parent_tuning_jobs": "parent-a, parent-b"},
    ],
)
def test_valid_params_build_requests_the_service_accepts(spec, params):
    from include.local_sagemaker.models.tuning import TuningJob

    run = RunParams.from_params({**defaults(spec), "random_seed": 7, **params}, spec)
    request = tuning_request(spec, "hpo-abc", run, definition_for(spec, run))
    parents = {}
    for name in run.parent_tuning_jobs or ():  # finished parents tuned the same way
        same = RunParams.from_params(defaults(spec), spec)
        parent = TuningJob("us-east-1", tuning_request(spec, name, same, definition_for(spec, same)))
        parent.status = "Completed"
        parents[name] = parent
    validate_create(request, parents)
    config = request["HyperParameterTuningJobConfig"]
    assert config["Strategy"] == run.strategy
    assert config["HyperParameterTuningJobObjective"] == {
        "Type": spec.objective.type,
        "MetricName": spec.objective.metric,
    }


def test_the_flight_request_is_the_one_before_specs():
    """What the flight model asked SageMaker for before it was a spec, so upgraded runs reattach to their jobs."""
    run = RunParams.from_params(defaults(FLIGHT), FLIGHT)
    definition = definition_for(FLIGHT, run)
    assert definition["StaticHyperParameters"] == {
        "num_round": "100",
        "sagemaker_program": "train.py",
        "sagemaker_submit_directory": "s3://b/code/sourcedir.tar.gz",
    }
    assert definition["AlgorithmSpecification"]["MetricDefinitions"] == FLIGHT.metric_definitions
    assert parameter_ranges(FLIGHT, "Bayesian") == {
        "IntegerParameterRanges": [{"Name": "max_depth", "MinValue": "2", "MaxValue": "10", "ScalingType": "Linear"}],
        "ContinuousParameterRanges": [
            {"Name": "eta", "MinValue": "0.01", "MaxValue": "0.5", "ScalingType": "Logarithmic"},
            {"Name": "min_child_weight", "MinValue": "1", "MaxValue": "20", "ScalingType": "Logarithmic"},
            {"Name": "subsample", "MinValue": "0.5", "MaxValue": "1", "ScalingType": "Linear"},
            {"Name": "colsample_bytree", "MinValue": "0.5", "MaxValue": "1", "ScalingType": "Linear"},
        ],
    }
    assert parameter_ranges(FLIGHT, "Grid") == {
        "CategoricalParameterRanges": [
            {"Name": "max_depth", "Values": ["3", "5", "7"]},
            {"Name": "eta", "Values": ["0.05", "0.1", "0.2", "0.3"]},
        ]
    }


def test_the_built_in_algorithm_runs_no_script_and_reads_libsvm():
    run = RunParams.from_params(defaults(HOTEL), HOTEL)
    definition = definition_for(HOTEL, run)
    assert "MetricDefinitions" not in definition["AlgorithmSpecification"]  # AWS's own for the built-in algorithm
    assert not {"sagemaker_program", "sagemaker_submit_directory"} & set(definition["StaticHyperParameters"])
    assert definition["StaticHyperParameters"]["objective"] == "reg:squarederror"
    assert {c["ContentType"] for c in definition["InputDataConfig"]} == {"text/libsvm"}


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"strategy": "Hyperband", "early_stopping": "Auto"}, "early_stopping"),
        ({"strategy": "Smart"}, "strategy"),
        ({"max_jobs": 3, "max_parallel_jobs": 5}, "max_parallel_jobs"),
        ({"strategy": "Grid", "max_parallel_jobs": 20}, "max_parallel_jobs"),
        ({"max_jobs": 0}, "max_jobs"),
        ({"max_jobs": "many"}, "max_jobs"),
        ({"max_jobs": 2.5}, "max_jobs"),
        ({"warm_start": "identical"}, "parent_tuning_jobs"),
        ({"warm_start": "none", "parent_tuning_jobs": ["a"]}, "parent_tuning_jobs"),
        ({"warm_start": "transfer", "parent_tuning_jobs": ["a", "b", "c", "d", "e", "f"]}, "parent_tuning_jobs"),
        ({"warm_start": "sideways"}, "warm_start"),
        ({"training_window_days": 0}, "training_window_days"),
        ({"validation_days": 61}, "validation_days"),
        ({"early_stopping": "Sometimes"}, "early_stopping"),
        ({"promotion_margin": 1.5}, "promotion_margin"),  # AUC spans 0..1: a margin beyond that is a mistake
        ({"promotion_margin": "a lot"}, "promotion_margin"),
        ({"smoke_threshold": -0.1}, "smoke_threshold"),
        ({"holdout_date": "27/02/2013"}, "holdout_date"),
        ({"holdout_date": "2013-02-30"}, "holdout_date"),
        ({"hyperparameters": {"max_depth": 3}}, "hyperparameters"),  # tuned, not static
        ({"hyperparameters": {"num_round": [1, 2]}}, "hyperparameters"),
        ({"deploy": "maybe"}, "deploy"),
        ({"random_seed": -1}, "random_seed"),
        ({"random_seed": 2**31}, "random_seed"),  # beyond SageMaker's Integer
        ({"random_seed": 1.5}, "random_seed"),
    ],
)
def test_invalid_params_name_the_param(params, param):
    with pytest.raises(ParamError, match=f"Param {param}") as raised:
        RunParams.from_params({**defaults(FLIGHT), **params}, FLIGHT)
    assert raised.value.param == param


def test_an_unknown_param_is_refused_with_a_hint_for_static_hyperparameters():
    with pytest.raises(ParamError, match="'num_round' is not a Param of flight_delay .static hyperparameters go in"):
        RunParams.from_params({**defaults(FLIGHT), "num_round": 20}, FLIGHT)
    with pytest.raises(ParamError, match="'min_smoke_auc' is not a Param of flight_delay; known: strategy"):
        RunParams.from_params({**defaults(FLIGHT), "min_smoke_auc": 0.5}, FLIGHT)


def test_the_grid_defines_the_job_count():
    run = RunParams.from_params({**defaults(FLIGHT), "strategy": "Grid", "max_jobs": 99}, FLIGHT)
    request = tuning_request(FLIGHT, "hpo-grid", run, definition_for(FLIGHT, run))
    assert "MaxNumberOfTrainingJobs" not in request["HyperParameterTuningJobConfig"]["ResourceLimits"]
    assert run.jobs(FLIGHT) == 12


def test_a_regression_metric_has_no_upper_bound_on_its_margin_or_threshold():
    run = RunParams.from_params({**defaults(HOTEL), "promotion_margin": 5, "smoke_threshold": 80}, HOTEL)
    assert (run.promotion_margin, run.smoke_threshold) == (5.0, 80.0)
    with pytest.raises(ParamError, match="Param smoke_threshold must be at least 0, got -1"):
        RunParams.from_params({**defaults(HOTEL), "smoke_threshold": -1}, HOTEL)


def test_hyperband_takes_its_resource_from_the_runs_static_hyperparameter():
    run = RunParams.from_params(
        {**defaults(FLIGHT), "strategy": "Hyperband", "hyperparameters": {"num_round": 40}}, FLIGHT
    )
    request = tuning_request(FLIGHT, "hpo-hb", run, definition_for(FLIGHT, run))
    config = request["HyperParameterTuningJobConfig"]["StrategyConfig"]["HyperbandStrategyConfig"]
    assert config == {"MinResource": 5, "MaxResource": 40}
    assert request["TrainingJobDefinition"]["StaticHyperParameters"]["num_round"] == "40"


def test_a_random_seed_makes_the_tuning_job_choose_the_same_jobs_again(tmp_path):
    """random_seed reaches SageMaker as RandomSeed (no seed: no field). Run on the in-process backend over simulated
    jobs, one at a time, the same seed picks the same hyperparameters job for job; another seed picks others."""
    from tests.fake_launcher import fake_backend, run_tuning

    def auc(hyperparameters: dict[str, str]) -> list[float | None]:
        return [0.7 + 0.2 * float(hyperparameters["eta"]) - 0.01 * int(hyperparameters["max_depth"])] * 2

    def chosen(seed: int | None, folder: str) -> list[dict[str, str]]:
        values = {**defaults(FLIGHT), "max_jobs": 8, "max_parallel_jobs": 1, "random_seed": seed}
        run = RunParams.from_params(values, FLIGHT)
        request = tuning_request(FLIGHT, "seeded", run, definition_for(FLIGHT, run))
        assert request["HyperParameterTuningJobConfig"].get("RandomSeed") == seed
        backend, launcher = fake_backend(tmp_path / folder, auc)
        backend.create_hyper_parameter_tuning_job(request)
        assert run_tuning(backend, launcher, "seeded")["HyperParameterTuningJobStatus"] == "Completed"
        jobs = sorted(backend.training_jobs.values(), key=lambda job: job.name)
        return [{k: v for k, v in job.spec["HyperParameters"].items() if k in FLIGHT.ranges} for job in jobs]

    first = chosen(5, "a")
    assert len(first) == 8 and chosen(5, "b") == first  # Bayesian: 5 random draws, then the model's 3
    assert chosen(6, "c") != first
    assert chosen(None, "d") != first

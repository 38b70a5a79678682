"""Malformed tuning configurations, generated with hypothesis, are all refused before any job runs.

Each example takes a valid request and breaks one of AWS's rules in a generated way. The service must answer
ValidationException (ResourceLimitExceeded for account limits) with a message that names the field, and
neither the tuning job nor any training job may exist afterwards.
"""

from __future__ import annotations

import copy
import string
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.tuning_helpers import curve_definition, tuning_request

Mutation = Callable[[dict[str, Any], st.DataObject], str]
NAMES = st.text(alphabet=string.ascii_lowercase + "_", min_size=1, max_size=12)
NUMBERS = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


def _config(request: dict[str, Any]) -> dict[str, Any]:
    return request["HyperParameterTuningJobConfig"]


def _ranges(request: dict[str, Any]) -> dict[str, Any]:
    return _config(request)["ParameterRanges"]


def min_not_below_max(request, data):
    kind = data.draw(st.sampled_from(["Continuous", "Integer"]))
    low = data.draw(st.integers(-1000, 1000))
    high = data.draw(st.integers(-1000, low))
    _ranges(request)[f"{kind}ParameterRanges"] = [{"Name": "p", "MinValue": str(low), "MaxValue": str(high)}]
    return "MinValue"


def logarithmic_from_zero_or_less(request, data):
    low = data.draw(st.floats(min_value=-100, max_value=0))
    _ranges(request)["ContinuousParameterRanges"] = [
        {"Name": "p", "MinValue": repr(low), "MaxValue": "1000", "ScalingType": "Logarithmic"}
    ]
    return "Logarithmic"


def reverse_logarithmic_outside_unit_interval(request, data):
    if data.draw(st.booleans()):
        _ranges(request)["IntegerParameterRanges"] = [
            {"Name": "p", "MinValue": "0", "MaxValue": "5", "ScalingType": "ReverseLogarithmic"}
        ]
    else:
        high = data.draw(st.floats(min_value=1.0, max_value=100))
        _ranges(request)["ContinuousParameterRanges"] = [
            {"Name": "p", "MinValue": "0.1", "MaxValue": repr(high), "ScalingType": "ReverseLogarithmic"}
        ]
    return "ReverseLogarithmic"


def too_many_tunables(request, data):
    # Each list may hold 30 (the wire shape says so); together they may not exceed 30 either.
    continuous = data.draw(st.integers(1, 30))
    integer = data.draw(st.integers(max(1, 31 - continuous), 30))
    _ranges(request)["ContinuousParameterRanges"] = [
        {"Name": f"p{i}", "MinValue": "0", "MaxValue": "1"} for i in range(continuous)
    ]
    _ranges(request)["IntegerParameterRanges"] = [
        {"Name": f"n{i}", "MinValue": "0", "MaxValue": "9"} for i in range(integer)
    ]
    return "tunable hyperparameters"


def too_many_categorical_values(request, data):
    count = data.draw(st.integers(31, 100))
    _ranges(request)["CategoricalParameterRanges"] = [{"Name": "c", "Values": [str(i) for i in range(count)]}]
    return "Values"


def static_also_tuned(request, data):
    request["TrainingJobDefinition"]["StaticHyperParameters"]["x"] = data.draw(st.text(min_size=1, max_size=5))
    return "StaticHyperParameters"


def strategy_config_without_hyperband(request, data):
    _config(request)["Strategy"] = data.draw(st.sampled_from(["Bayesian", "Random"]))
    _config(request)["StrategyConfig"] = {"HyperbandStrategyConfig": {"MaxResource": data.draw(st.integers(1, 99))}}
    return "StrategyConfig"


def grid_with_a_numeric_range(request, data):
    _config(request)["Strategy"] = "Grid"
    _config(request)["ResourceLimits"].pop("MaxNumberOfTrainingJobs")
    return "Grid"


def grid_with_the_wrong_job_count(request, data):
    values = data.draw(st.lists(st.text(min_size=1, max_size=4), min_size=1, max_size=6, unique=True))
    _config(request)["Strategy"] = "Grid"
    _config(request)["ParameterRanges"] = {"CategoricalParameterRanges": [{"Name": "c", "Values": values}]}
    _config(request)["ResourceLimits"] = {
        "MaxNumberOfTrainingJobs": data.draw(st.integers(1, 50).filter(lambda n: n != len(values))),
        "MaxParallelTrainingJobs": 1,
    }
    return "MaxNumberOfTrainingJobs"


def hyperband_with_auto_early_stopping(request, data):
    _config(request)["Strategy"] = "Hyperband"
    _config(request)["TrainingJobEarlyStoppingType"] = "Auto"
    return "TrainingJobEarlyStoppingType"


def hyperband_resource_too_large(request, data):
    _config(request)["Strategy"] = "Hyperband"
    _config(request)["StrategyConfig"] = {
        "HyperbandStrategyConfig": {"MaxResource": data.draw(st.integers(20_001, 10**6))}
    }
    return "MaxResource"


def hyperband_without_a_resource(request, data):
    _config(request)["Strategy"] = "Hyperband"
    request["TrainingJobDefinition"]["StaticHyperParameters"].pop("epochs")
    return "MaxResource"


def objective_not_emitted(request, data):
    _config(request)["HyperParameterTuningJobObjective"]["MetricName"] = "m:" + data.draw(NAMES)
    return "MetricName"


def more_parallel_than_jobs(request, data):
    jobs = data.draw(st.integers(1, 20))
    _config(request)["ResourceLimits"] = {
        "MaxNumberOfTrainingJobs": jobs,
        "MaxParallelTrainingJobs": data.draw(st.integers(jobs + 1, 100)),
    }
    return "MaxParallelTrainingJobs"


def not_a_number(request, data):
    text = data.draw(st.text(alphabet=string.ascii_letters, min_size=1, max_size=6))
    field = data.draw(st.sampled_from(["MinValue", "MaxValue"]))
    _ranges(request)["ContinuousParameterRanges"][0][field] = text
    return field


def fractional_integer(request, data):
    low = data.draw(st.integers(0, 100))
    _ranges(request)["IntegerParameterRanges"] = [{"Name": "n", "MinValue": f"{low}.5", "MaxValue": str(low + 10)}]
    return "integer"


def duplicate_range_name(request, data):
    _ranges(request)["IntegerParameterRanges"] = [{"Name": "x", "MinValue": "1", "MaxValue": "9"}]
    return "more than one range"


def too_many_hyperparameters(request, data):
    # Up to 100 statics fit the wire shape; with the tunables and _tuning_objective_metric they are too many.
    statics = request["TrainingJobDefinition"]["StaticHyperParameters"]
    statics.update({f"s{i}": "1" for i in range(data.draw(st.integers(90, 100 - len(statics))))})
    extra = data.draw(st.integers(max(1, 100 - len(statics)), 20))
    _ranges(request)["IntegerParameterRanges"] = [
        {"Name": f"n{i}", "MinValue": "0", "MaxValue": "9"} for i in range(extra)
    ]
    return "100 hyperparameters"


def spot_without_max_wait(request, data):
    request["TrainingJobDefinition"]["EnableManagedSpotTraining"] = True
    return "MaxWaitTimeInSeconds"


def both_definition_forms(request, data):
    request["TrainingJobDefinitions"] = [dict(request["TrainingJobDefinition"], DefinitionName="d1")]
    return "exactly one of TrainingJobDefinition"


def too_many_training_jobs(request, data):
    _config(request)["ResourceLimits"]["MaxNumberOfTrainingJobs"] = data.draw(st.integers(501, 10_000))
    return "MaxNumberOfTrainingJobs"


def regex_without_group(request, data):
    regex = data.draw(st.sampled_from(["objective=[0-9.]+", "objective", r"\d+;"]))
    request["TrainingJobDefinition"]["AlgorithmSpecification"]["MetricDefinitions"] = [
        {"Name": "objective", "Regex": regex}
    ]
    return "Regex"


def missing_warm_start_parent(request, data):
    request["WarmStartConfig"] = {
        "ParentHyperParameterTuningJobs": [
            {"HyperParameterTuningJobName": "ghost-" + data.draw(st.text(string.digits, min_size=1, max_size=8))}
        ],
        "WarmStartType": data.draw(st.sampled_from(["IdenticalDataAndAlgorithm", "TransferLearning"])),
    }
    return "not found"


def bad_job_name(request, data):
    request["HyperParameterTuningJobName"] = data.draw(
        st.one_of(
            st.text(alphabet=string.ascii_lowercase + "_.", min_size=1, max_size=10).filter(
                lambda s: "_" in s or "." in s
            ),
            st.text(alphabet=string.ascii_lowercase, min_size=33, max_size=40),
        )
    )
    return "hyperParameterTuningJobName"


MUTATIONS: list[Mutation] = [
    min_not_below_max, logarithmic_from_zero_or_less, reverse_logarithmic_outside_unit_interval, too_many_tunables,
    too_many_categorical_values, static_also_tuned, strategy_config_without_hyperband, grid_with_a_numeric_range,
    grid_with_the_wrong_job_count, hyperband_with_auto_early_stopping, hyperband_resource_too_large,
    hyperband_without_a_resource, objective_not_emitted, more_parallel_than_jobs, not_a_number, fractional_integer,
    duplicate_range_name, too_many_hyperparameters, spot_without_max_wait, both_definition_forms,
    too_many_training_jobs, regex_without_group, missing_warm_start_parent, bad_job_name,
]  # fmt: skip


@pytest.fixture(scope="module")
def raw_sm(local_sagemaker):
    """A client that sends what it is given: the service, not botocore, must catch the mistakes."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(aws_access_key_id="t", aws_secret_access_key="t", region_name="us-east-1")
    return session.client("sagemaker", endpoint_url=local_sagemaker.url, config=Config(parameter_validation=False))


@pytest.fixture(scope="module")
def base_request(bucket, channels) -> dict[str, Any]:
    definition = curve_definition(f"s3://{bucket}/code/none.tar.gz", channels["train"], f"s3://{bucket}/bad")
    return tuning_request("malformed", definition, "Random", max_jobs=4, parallel=2)


def test_the_base_request_is_valid(raw_sm, base_request):
    """Without this, every rejection below could be for the same unrelated reason."""
    from include.local_sagemaker.models.tuning_validation import validate_create

    validate_create(base_request, {})


@settings(max_examples=240, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), mutation=st.sampled_from(MUTATIONS))
def test_malformed_tuning_configs_are_refused_naming_the_field(raw_sm, base_request, data, mutation):
    request = copy.deepcopy(base_request)
    expected = mutation(request, data)
    name = data.draw(st.from_regex(r"bad-[a-z0-9]{6,10}", fullmatch=True))
    if mutation is not bad_job_name:
        request["HyperParameterTuningJobName"] = name
    with pytest.raises(ClientError) as caught:
        raw_sm.create_hyper_parameter_tuning_job(**request)
    error = caught.value.response["Error"]
    assert error["Code"] in ("ValidationException", "ResourceLimitExceeded"), error
    assert expected.lower() in error["Message"].lower(), (mutation.__name__, error["Message"])
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    if mutation is not bad_job_name:
        with pytest.raises(ClientError, match="ResourceNotFound"):
            raw_sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        assert raw_sm.list_training_jobs(NameContains=name)["TrainingJobSummaries"] == []

"""Bad input is refused before any job is created, and every refusal names the field, Param, file or date.

- Malformed tuning configurations, generated with hypothesis: each takes a valid request and breaks one of AWS's
  rules in a generated way. CreateHyperParameterTuningJob must answer ValidationException (ResourceLimitExceeded
  for account limits) naming the field.
- Metric regexes that do not compile or capture nothing, spot settings whose MaxWaitTimeInSeconds is below
  MaxRuntimeInSeconds, and Params out of range: refused by include/pipeline (metric_checks, spot, plan_run) and,
  where they reach it, by the service's CreateTrainingJob/CreateHyperParameterTuningJob.
- Daily partitions that are missing, empty, corrupt, with wrong columns, bad labels, one class only or features
  without values: `prepare` (what the prepare_data task calls) raises PartitionError before it writes anything.

Every test runs under `no_job_is_created`, which lists the service's tuning and training jobs before and after.
The DAG-level versions (a failing prepare_data, no tuning job) are in tests/integration/test_hpo_nightly.py; this
module calls the pipeline functions and the service directly, so it stays fast. Figures: how many inputs of each
kind were refused, recorded once per kind when the module ends.
"""

from __future__ import annotations

import copy
import datetime
import string
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
import pytest
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.local_sagemaker import training_request, unique
from include.pipeline.data import partition_key
from include.pipeline.metric_checks import check_definitions
from include.pipeline.params import ParamError, RunParams, defaults
from include.pipeline.prepare import PartitionError, Window, prepare
from include.pipeline.spot import SpotConfigError, spot_definition
from tests.reliability.figures import record, scaled
from tests.specs import FLIGHT, FLIGHT_METRIC_DEFINITIONS, flight_rows, with_partitions
from tests.tuning_helpers import curve_definition, tuning_request

REJECTED: Counter[str] = Counter()  # kind of bad input -> how many were refused, for the figures
TUNING_CONFIGS = "malformed tuning configs"
REGEXES = "malformed metric regexes"
SPOT = "spot configs with MaxWaitTimeInSeconds < MaxRuntimeInSeconds"
PARAMS = "out-of-range Params"
PARTITIONS = "bad partitions"


@pytest.fixture(scope="module", autouse=True)
def figures() -> Iterator[None]:
    yield
    for kind, count in sorted(REJECTED.items()):
        record("bad input", f"{kind} rejected", count)


def job_names(sm: Any) -> tuple[set[str], set[str]]:
    """Every tuning job and every training job the service knows, by name."""
    pages = {"PaginationConfig": {"PageSize": 100}}
    tuning = {
        job["HyperParameterTuningJobName"]
        for page in sm.get_paginator("list_hyper_parameter_tuning_jobs").paginate(**pages)
        for job in page["HyperParameterTuningJobSummaries"]
    }
    training = {
        job["TrainingJobName"]
        for page in sm.get_paginator("list_training_jobs").paginate(**pages)
        for job in page["TrainingJobSummaries"]
    }
    return tuning, training


@pytest.fixture(autouse=True)
def no_job_is_created(sm: Any) -> Iterator[None]:
    """The service is shared with the session's other tests: compare its full listings before and after."""
    tuning_before, training_before = job_names(sm)
    yield
    tuning_after, training_after = job_names(sm)
    # A tuning job an earlier test started may still be starting training jobs (<tuning job>-NNN-xxxxxxxx).
    new_training = {
        name
        for name in training_after - training_before
        if not any(name.startswith(f"{parent}-") for parent in tuning_before)
    }
    assert (tuning_after - tuning_before, new_training) == (set(), set())


def refusal(call: Callable[..., Any], **request: Any) -> tuple[str, str]:
    """The error code and message of a request the service must refuse with HTTP 400."""
    with pytest.raises(ClientError) as caught:
        call(**request)
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400, caught.value.response
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


# --------------------------------------------------------------------------------------------- tuning configs

Mutation = Callable[[dict[str, Any], st.DataObject], str]
NAMES = st.text(alphabet=string.ascii_lowercase + "_", min_size=1, max_size=12)


def _config(request: dict[str, Any]) -> dict[str, Any]:
    return request["HyperParameterTuningJobConfig"]


def _ranges(request: dict[str, Any]) -> dict[str, Any]:
    return _config(request)["ParameterRanges"]


def min_not_below_max(request: dict[str, Any], data: st.DataObject) -> str:
    kind = data.draw(st.sampled_from(["Continuous", "Integer"]))
    low = data.draw(st.integers(-1000, 1000))
    high = data.draw(st.integers(-1000, low))
    _ranges(request)[f"{kind}ParameterRanges"] = [{"Name": "p", "MinValue": str(low), "MaxValue": str(high)}]
    return "MinValue"


def logarithmic_from_zero_or_less(request: dict[str, Any], data: st.DataObject) -> str:
    low = data.draw(st.floats(min_value=-100, max_value=0))
    _ranges(request)["ContinuousParameterRanges"] = [
        {"Name": "p", "MinValue": repr(low), "MaxValue": "1000", "ScalingType": "Logarithmic"}
    ]
    return "Logarithmic"


def reverse_logarithmic_outside_unit_interval(request: dict[str, Any], data: st.DataObject) -> str:
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


def too_many_tunables(request: dict[str, Any], data: st.DataObject) -> str:
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


def too_many_categorical_values(request: dict[str, Any], data: st.DataObject) -> str:
    count = data.draw(st.integers(31, 100))
    _ranges(request)["CategoricalParameterRanges"] = [{"Name": "c", "Values": [str(i) for i in range(count)]}]
    return "Values"


def static_also_tuned(request: dict[str, Any], data: st.DataObject) -> str:
    request["TrainingJobDefinition"]["StaticHyperParameters"]["x"] = data.draw(st.text(min_size=1, max_size=5))
    return "StaticHyperParameters"


def strategy_config_without_hyperband(request: dict[str, Any], data: st.DataObject) -> str:
    _config(request)["Strategy"] = data.draw(st.sampled_from(["Bayesian", "Random"]))
    _config(request)["StrategyConfig"] = {"HyperbandStrategyConfig": {"MaxResource": data.draw(st.integers(1, 99))}}
    return "StrategyConfig"


def grid_with_a_numeric_range(request: dict[str, Any], data: st.DataObject) -> str:
    _config(request)["Strategy"] = "Grid"
    _config(request)["ResourceLimits"].pop("MaxNumberOfTrainingJobs")
    return "Grid"


def grid_with_the_wrong_job_count(request: dict[str, Any], data: st.DataObject) -> str:
    values = data.draw(st.lists(st.text(min_size=1, max_size=4), min_size=1, max_size=6, unique=True))
    _config(request)["Strategy"] = "Grid"
    _config(request)["ParameterRanges"] = {"CategoricalParameterRanges": [{"Name": "c", "Values": values}]}
    _config(request)["ResourceLimits"] = {
        "MaxNumberOfTrainingJobs": data.draw(st.integers(1, 50).filter(lambda n: n != len(values))),
        "MaxParallelTrainingJobs": 1,
    }
    return "MaxNumberOfTrainingJobs"


def hyperband_with_auto_early_stopping(request: dict[str, Any], data: st.DataObject) -> str:
    _config(request)["Strategy"] = "Hyperband"
    _config(request)["TrainingJobEarlyStoppingType"] = "Auto"
    return "TrainingJobEarlyStoppingType"


def hyperband_resource_too_large(request: dict[str, Any], data: st.DataObject) -> str:
    _config(request)["Strategy"] = "Hyperband"
    _config(request)["StrategyConfig"] = {
        "HyperbandStrategyConfig": {"MaxResource": data.draw(st.integers(20_001, 10**6))}
    }
    return "MaxResource"


def hyperband_without_a_resource(request: dict[str, Any], data: st.DataObject) -> str:
    _config(request)["Strategy"] = "Hyperband"
    request["TrainingJobDefinition"]["StaticHyperParameters"].pop("epochs")
    return "MaxResource"


def objective_not_emitted(request: dict[str, Any], data: st.DataObject) -> str:
    _config(request)["HyperParameterTuningJobObjective"]["MetricName"] = "m:" + data.draw(NAMES)
    return "MetricName"


def more_parallel_than_jobs(request: dict[str, Any], data: st.DataObject) -> str:
    jobs = data.draw(st.integers(1, 20))
    _config(request)["ResourceLimits"] = {
        "MaxNumberOfTrainingJobs": jobs,
        "MaxParallelTrainingJobs": data.draw(st.integers(jobs + 1, 100)),
    }
    return "MaxParallelTrainingJobs"


def not_a_number(request: dict[str, Any], data: st.DataObject) -> str:
    text = data.draw(st.text(alphabet=string.ascii_letters, min_size=1, max_size=6))
    field = data.draw(st.sampled_from(["MinValue", "MaxValue"]))
    _ranges(request)["ContinuousParameterRanges"][0][field] = text
    return field


def fractional_integer(request: dict[str, Any], data: st.DataObject) -> str:
    low = data.draw(st.integers(0, 100))
    _ranges(request)["IntegerParameterRanges"] = [{"Name": "n", "MinValue": f"{low}.5", "MaxValue": str(low + 10)}]
    return "integer"


def duplicate_range_name(request: dict[str, Any], data: st.DataObject) -> str:
    _ranges(request)["IntegerParameterRanges"] = [{"Name": "x", "MinValue": "1", "MaxValue": "9"}]
    return "more than one range"


def too_many_hyperparameters(request: dict[str, Any], data: st.DataObject) -> str:
    # Up to 100 statics fit the wire shape; with the tunables and _tuning_objective_metric they are too many.
    statics = request["TrainingJobDefinition"]["StaticHyperParameters"]
    statics.update({f"s{i}": "1" for i in range(data.draw(st.integers(90, 100 - len(statics))))})
    extra = data.draw(st.integers(max(1, 100 - len(statics)), 20))
    _ranges(request)["IntegerParameterRanges"] = [
        {"Name": f"n{i}", "MinValue": "0", "MaxValue": "9"} for i in range(extra)
    ]
    return "100 hyperparameters"


def spot_without_max_wait(request: dict[str, Any], data: st.DataObject) -> str:
    request["TrainingJobDefinition"]["EnableManagedSpotTraining"] = True
    return "MaxWaitTimeInSeconds"


def both_definition_forms(request: dict[str, Any], data: st.DataObject) -> str:
    request["TrainingJobDefinitions"] = [dict(request["TrainingJobDefinition"], DefinitionName="d1")]
    return "exactly one of TrainingJobDefinition"


def too_many_training_jobs(request: dict[str, Any], data: st.DataObject) -> str:
    _config(request)["ResourceLimits"]["MaxNumberOfTrainingJobs"] = data.draw(st.integers(501, 10_000))
    return "MaxNumberOfTrainingJobs"


def regex_without_group(request: dict[str, Any], data: st.DataObject) -> str:
    regex = data.draw(st.sampled_from(["objective=[0-9.]+", "objective", r"\d+;"]))
    request["TrainingJobDefinition"]["AlgorithmSpecification"]["MetricDefinitions"] = [
        {"Name": "objective", "Regex": regex}
    ]
    return "Regex"


def missing_warm_start_parent(request: dict[str, Any], data: st.DataObject) -> str:
    request["WarmStartConfig"] = {
        "ParentHyperParameterTuningJobs": [
            {"HyperParameterTuningJobName": "ghost-" + data.draw(st.text(string.digits, min_size=1, max_size=8))}
        ],
        "WarmStartType": data.draw(st.sampled_from(["IdenticalDataAndAlgorithm", "TransferLearning"])),
    }
    return "not found"


def bad_job_name(request: dict[str, Any], data: st.DataObject) -> str:
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
    min_not_below_max,
    logarithmic_from_zero_or_less,
    reverse_logarithmic_outside_unit_interval,
    too_many_tunables,
    too_many_categorical_values,
    static_also_tuned,
    strategy_config_without_hyperband,
    grid_with_a_numeric_range,
    grid_with_the_wrong_job_count,
    hyperband_with_auto_early_stopping,
    hyperband_resource_too_large,
    hyperband_without_a_resource,
    objective_not_emitted,
    more_parallel_than_jobs,
    not_a_number,
    fractional_integer,
    duplicate_range_name,
    too_many_hyperparameters,
    spot_without_max_wait,
    both_definition_forms,
    too_many_training_jobs,
    regex_without_group,
    missing_warm_start_parent,
    bad_job_name,
]


@pytest.fixture(scope="module")
def raw_sm(local_sagemaker: Any) -> Any:
    """A client that sends what it is given: the service, not botocore, must catch the mistakes."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(aws_access_key_id="t", aws_secret_access_key="t", region_name="us-east-1")
    return session.client("sagemaker", endpoint_url=local_sagemaker.url, config=Config(parameter_validation=False))


@pytest.fixture(scope="module")
def base_request(bucket: str, channels: dict[str, str]) -> dict[str, Any]:
    definition = curve_definition(f"s3://{bucket}/code/none.tar.gz", channels["train"], f"s3://{bucket}/bad")
    return tuning_request("malformed", definition, "Random", max_jobs=4, parallel=2)


def test_the_base_request_is_valid(base_request: dict[str, Any]) -> None:
    """Without this, every rejection below could be for the same unrelated reason."""
    from include.local_sagemaker.models.tuning_validation import validate_create

    validate_create(base_request, {})


def test_malformed_tuning_configs_are_refused_naming_the_field(raw_sm: Any, base_request: dict[str, Any]) -> None:
    refused_before = REJECTED[TUNING_CONFIGS]

    @settings(max_examples=scaled(240, 2000), deadline=None, database=None)
    @given(data=st.data(), mutation=st.sampled_from(MUTATIONS))
    def refused(data: st.DataObject, mutation: Mutation) -> None:
        request = copy.deepcopy(base_request)
        expected = mutation(request, data)
        name = data.draw(st.from_regex(r"bad-[a-z0-9]{6,10}", fullmatch=True))
        if mutation is not bad_job_name:
            request["HyperParameterTuningJobName"] = name
        code, message = refusal(raw_sm.create_hyper_parameter_tuning_job, **request)
        assert code in ("ValidationException", "ResourceLimitExceeded"), (code, message)
        assert expected.lower() in message.lower(), (mutation.__name__, message)
        if mutation is not bad_job_name:  # no_job_is_created checks the whole listing once all examples ran
            with pytest.raises(ClientError, match="ResourceNotFound"):
                raw_sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
            assert raw_sm.list_training_jobs(NameContains=name)["TrainingJobSummaries"] == []
        REJECTED[TUNING_CONFIGS] += 1

    refused()
    assert REJECTED[TUNING_CONFIGS] - refused_before >= 200


# --------------------------------------------------------------------------------------------- metric regexes

# What is wrong -> (regex for validation:auc, what metric_checks says, what the service says).
BAD_REGEXES = {
    "no capture group": (r"validation:auc=[0-9.]+;", "0 capture groups", "must have a capture group"),
    "unbalanced parenthesis": (r"validation:auc=([0-9.]+;", "does not compile", "not a valid regular expression"),
    "unterminated class": (r"validation:auc=([0-9.+);", "does not compile", "not a valid regular expression"),
    "nothing to repeat": (r"validation:auc=(*[0-9.]+);", "does not compile", "not a valid regular expression"),
    "bad escape": (r"validation:auc=(\d+\.\k);", "does not compile", "not a valid regular expression"),
}


@pytest.mark.parametrize("case", sorted(BAD_REGEXES))
def test_metric_checks_refuse_a_broken_objective_regex_naming_the_metric(case: str) -> None:
    regex, problem, _ = BAD_REGEXES[case]
    definitions = [d for d in FLIGHT_METRIC_DEFINITIONS if d["Name"] != "validation:auc"]
    broken = [*definitions, {"Name": "validation:auc", "Regex": regex}]
    found = [str(p) for p in check_definitions(broken, "validation:auc")]
    assert len(found) == 1 and "metric 'validation:auc'" in found[0] and problem in found[0], found
    REJECTED[REGEXES] += 1


@pytest.mark.parametrize("case", sorted(BAD_REGEXES))
def test_create_training_job_refuses_a_broken_regex_naming_the_field(
    sm: Any, bucket: str, channels: dict[str, str], case: str
) -> None:
    regex, _, refused = BAD_REGEXES[case]
    metrics = {"MetricDefinitions": [{"Name": "validation:auc", "Regex": regex}]}
    request = training_request(unique("bad-regex"), channels, f"s3://{bucket}/out", AlgorithmSpecification=metrics)
    code, message = refusal(sm.create_training_job, **request)
    assert code == "ValidationException" and "AlgorithmSpecification.MetricDefinitions.1.Regex" in message
    assert refused in message
    REJECTED[REGEXES] += 1


@pytest.mark.parametrize("case", sorted(BAD_REGEXES))
def test_create_tuning_job_refuses_a_broken_regex_naming_the_field(
    sm: Any, base_request: dict[str, Any], case: str
) -> None:
    regex, _, refused = BAD_REGEXES[case]
    request = copy.deepcopy(base_request) | {"HyperParameterTuningJobName": unique("bad-regex")}
    request["TrainingJobDefinition"]["AlgorithmSpecification"]["MetricDefinitions"] = [
        {"Name": "objective", "Regex": regex.replace("validation:auc", "objective")}
    ]
    code, message = refusal(sm.create_hyper_parameter_tuning_job, **request)
    assert code == "ValidationException" and refused in message
    assert "TrainingJobDefinition.AlgorithmSpecification.MetricDefinitions.1.Regex" in message
    REJECTED[REGEXES] += 1


# --------------------------------------------------------------------------------------------- spot

# (MaxRuntimeInSeconds, MaxWaitTimeInSeconds); None: left out, so SageMaker's default of one day.
SHORT_WAITS = [(600, 300), (3600, 3599), (1800, 1), (None, 3600)]


def stopping(runtime: int | None, wait: int) -> dict[str, int]:
    return {"MaxWaitTimeInSeconds": wait, **({"MaxRuntimeInSeconds": runtime} if runtime else {})}


@pytest.mark.parametrize(("runtime", "wait"), SHORT_WAITS)
def test_spot_definition_refuses_a_wait_below_the_runtime(runtime: int | None, wait: int) -> None:
    definition = {"StoppingCondition": stopping(runtime, wait)}
    with pytest.raises(SpotConfigError) as caught:
        spot_definition(definition, use_spot=True, checkpoint_uri="s3://bad-input/checkpoints/run")
    assert f"StoppingCondition.MaxWaitTimeInSeconds ({wait}) is below MaxRuntimeInSeconds" in str(caught.value)
    REJECTED[SPOT] += 1


@pytest.mark.parametrize(("runtime", "wait"), SHORT_WAITS)
def test_create_training_job_refuses_a_spot_wait_below_the_runtime(
    sm: Any, bucket: str, channels: dict[str, str], runtime: int | None, wait: int
) -> None:
    request = training_request(unique("bad-spot"), channels, f"s3://{bucket}/out", EnableManagedSpotTraining=True)
    request["StoppingCondition"] = stopping(runtime, wait)
    code, message = refusal(sm.create_training_job, **request)
    assert code == "ValidationException"
    assert f"StoppingCondition.MaxWaitTimeInSeconds ({wait}) must be greater than or equal to" in message
    REJECTED[SPOT] += 1


@pytest.mark.parametrize(("runtime", "wait"), SHORT_WAITS)
def test_create_tuning_job_refuses_a_spot_wait_below_the_runtime(
    sm: Any, base_request: dict[str, Any], runtime: int | None, wait: int
) -> None:
    request = copy.deepcopy(base_request) | {"HyperParameterTuningJobName": unique("bad-spot")}
    request["TrainingJobDefinition"] |= {
        "EnableManagedSpotTraining": True,
        "StoppingCondition": stopping(runtime, wait),
    }
    code, message = refusal(sm.create_hyper_parameter_tuning_job, **request)
    assert code == "ValidationException" and message.startswith("TrainingJobDefinition: ")
    assert f"StoppingCondition.MaxWaitTimeInSeconds ({wait}) must be greater than or equal to" in message
    REJECTED[SPOT] += 1


# --------------------------------------------------------------------------------------------- Params

OUT_OF_RANGE: list[tuple[str, Any]] = [
    ("max_jobs", 0),
    ("max_jobs", 501),
    ("max_jobs", "many"),
    ("max_parallel_jobs", 0),
    ("max_parallel_jobs", 101),
    ("training_window_days", 0),
    ("training_window_days", 731),
    ("validation_days", 0),
    ("holdout_days", 61),
    ("strategy", "Smart"),
    ("early_stopping", "Sometimes"),
    ("warm_start", "sideways"),
    ("promotion_margin", 1.5),
    ("promotion_margin", -2),
    ("holdout_date", "2013-02-30"),
    ("smoke_threshold", 1.5),
    ("smoke_threshold", -0.1),
    ("smoke_threshold", "high"),
    ("hyperparameters", "many"),
]


@pytest.mark.parametrize(("param", "value"), OUT_OF_RANGE)
def test_the_dags_params_refuse_an_out_of_range_value_naming_the_param(param: str, value: Any) -> None:
    """What the trigger form and the REST API check, from the Params the DAG factory makes of the table."""
    from airflow.sdk.definitions.param import ParamsDict
    from airflow.sdk.exceptions import ParamValidationError

    from include.dag_factory import airflow_params

    params = ParamsDict(copy.deepcopy(airflow_params(FLIGHT)))
    with pytest.raises(ParamValidationError, match=f"Invalid input for param {param}: "):
        params[param] = value
    REJECTED[PARAMS] += 1


@pytest.mark.parametrize(("param", "value"), OUT_OF_RANGE)
def test_prepare_data_refuses_an_out_of_range_param_naming_it(param: str, value: Any) -> None:
    """prepare_data's own check, from the same table, for runs whose Params were not validated on the way in."""
    with pytest.raises(ParamError, match=f"Param {param} "):
        RunParams.from_params({**defaults(FLIGHT), "holdout_date": "2013-03-05", param: value}, FLIGHT)
    REJECTED[PARAMS] += 1


# --------------------------------------------------------------------------------------------- partitions

FEATURES = FLIGHT.data.features
WINDOW = Window.ending(datetime.date(2013, 3, 5), training_days=2)  # trains on 03-02..03-03
FIRST, SECOND = WINDOW.train_days
Breakage = Callable[[pd.DataFrame], pd.DataFrame | bytes | None]  # None: the partition is not there


def parquet(rows: pd.DataFrame) -> bytes:
    return rows.to_parquet(index=False, engine="pyarrow")


def assign(**columns: Any) -> Callable[[pd.DataFrame], pd.DataFrame]:
    return lambda rows: rows.assign(**columns)


# What is wrong -> (the day it is wrong on, how, what the error says after naming the partition).
BAD_PARTITIONS: dict[str, tuple[datetime.date, Breakage, str]] = {
    "missing": (WINDOW.validation_day, lambda rows: None, "is missing: run ingest_flights for 2013-03-04 first"),
    "empty": (FIRST, lambda rows: rows.iloc[0:0], "has no rows"),
    "not parquet": (WINDOW.holdout_day, lambda rows: b"PAR1 this is not a parquet file", "is not readable Parquet"),
    "truncated": (SECOND, lambda rows: parquet(rows)[: len(parquet(rows)) // 2], "is not readable Parquet"),
    "csv, not parquet": (FIRST, lambda rows: rows.to_csv(index=False).encode(), "is not readable Parquet"),
    "column dropped": (SECOND, lambda rows: rows.drop(columns=["dest", "temp"]), "lacks columns ['dest', 'temp']"),
    "label renamed": (FIRST, lambda rows: rows.rename(columns={"delayed": "label"}), "lacks columns ['delayed']"),
    "label 2": (WINDOW.validation_day, assign(delayed=2), "has labels other than 0/1 in 'delayed'"),
    "label missing": (FIRST, assign(delayed=float("nan")), "has labels other than 0/1 in 'delayed'"),
    "label as text": (SECOND, assign(delayed="yes"), "has labels other than 0/1 in 'delayed': ['yes']"),
    "another date": (WINDOW.holdout_day, assign(date="2013-03-01"), "holds rows of other dates: ['2013-03-01']"),
    "text in a number": (FIRST, assign(distance="far"), "not numbers in feature columns ['distance']"),
    "every feature NaN": (SECOND, assign(**dict.fromkeys(FEATURES)), "feature columns ['carrier', 'origin', "),
    "one feature NaN": (FIRST, assign(distance=float("nan")), "in feature columns ['distance'] (all NaN or unknown)"),
    "unknown carriers": (  # "aa" is not in the vocabulary, so every carrier code is NaN
        WINDOW.validation_day,
        lambda rows: rows.assign(carrier=rows["carrier"].str.lower()),
        "columns ['carrier']",
    ),
}


@pytest.fixture(scope="module")
def window_rows() -> dict[datetime.date, pd.DataFrame]:
    """Real flight rows for each day of WINDOW, built once."""
    rows = flight_rows(WINDOW.days[0], WINDOW.days[-1])
    return {day: rows[rows["date"] == day.isoformat()].reset_index(drop=True) for day in WINDOW.days}


@pytest.fixture
def root() -> str:
    """A prefix of the test's own in the session bucket: raw partitions under root/raw, prepare's output in root/run."""
    return f"bad-input/{uuid.uuid4().hex}"


def prepare_window(s3: Any, bucket: str, root: str, bodies: dict[datetime.date, pd.DataFrame | bytes | None]) -> Any:
    """Write WINDOW's partitions (None: leave the day out) and run prepare on them, as prepare_data does."""
    spec = with_partitions(FLIGHT, f"{root}/raw")
    for day, body in bodies.items():
        if body is not None:
            data = parquet(body) if isinstance(body, pd.DataFrame) else body
            s3.put_object(Bucket=bucket, Key=partition_key(spec, day), Body=data)
    return prepare(s3, spec, bucket=bucket, window=WINDOW, run_prefix=f"{root}/run")


def written(s3: Any, bucket: str, prefix: str) -> int:
    return s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["KeyCount"]


def test_the_unbroken_window_prepares(
    s3: Any, bucket: str, root: str, window_rows: dict[datetime.date, pd.DataFrame]
) -> None:
    """Without this, every refusal below could be for the same unrelated reason."""
    prepared = prepare_window(s3, bucket, root, dict(window_rows))
    assert prepared.window.train_days == WINDOW.train_days and written(s3, bucket, f"{root}/run/") == 4


@pytest.mark.parametrize("case", sorted(BAD_PARTITIONS))
def test_a_bad_partition_is_refused_naming_its_date_and_key(
    s3: Any, bucket: str, root: str, window_rows: dict[datetime.date, pd.DataFrame], case: str
) -> None:
    day, breakage, expected = BAD_PARTITIONS[case]
    bodies = {each: breakage(rows.copy()) if each == day else rows for each, rows in window_rows.items()}
    with pytest.raises(PartitionError) as caught:
        prepare_window(s3, bucket, root, bodies)
    where = f"partition {day.isoformat()} (s3://{bucket}/{partition_key(with_partitions(FLIGHT, f'{root}/raw'), day)}) "
    assert str(caught.value).startswith(where) and expected in str(caught.value), str(caught.value)
    assert written(s3, bucket, f"{root}/run/") == 0  # every partition is checked before anything is written
    REJECTED[PARTITIONS] += 1


@pytest.mark.parametrize("label", [0, 1])
def test_training_days_of_one_class_are_refused_naming_the_days(
    s3: Any, bucket: str, root: str, window_rows: dict[datetime.date, pd.DataFrame], label: int
) -> None:
    bodies = {
        day: rows.assign(delayed=label) if day in WINDOW.train_days else rows for day, rows in window_rows.items()
    }
    with pytest.raises(PartitionError, match=r"training days 2013-03-02\.\.2013-03-03 have one class only"):
        prepare_window(s3, bucket, root, bodies)
    assert written(s3, bucket, f"{root}/run/") == 0
    REJECTED[PARTITIONS] += 1

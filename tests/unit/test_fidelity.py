"""What real clients see, in-process: every create-request field honoured or refused, multi-algorithm tuning,
RetryStrategy's counters and the list, completion and Hyperband semantics AWS documents.

The backend and scheduler run over simulated jobs (tests/fake_launcher.py); the HTTP path of the same checks is
in tests/integration (test_training_jobs.py, test_restart_and_spot.py).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from botocore.model import Shape

from include.local_sagemaker.exceptions import ValidationException
from include.local_sagemaker.models import support
from include.local_sagemaker.protocol import service_model
from include.local_sagemaker.runner.layout import base_environment
from tests.fake_launcher import METRIC, definition, fake_backend, run_tuning, tuning_request

SHAPES = {
    "CreateTrainingJobRequest": (support.TRAINING_HONOURED, support.TRAINING_REFUSED),
    "CreateHyperParameterTuningJobRequest": (support.TUNING_HONOURED, support.TUNING_REFUSED),
    "HyperParameterTuningJobConfig": (support.TUNING_CONFIG_HONOURED, support.TUNING_CONFIG_REFUSED),
    "HyperParameterTrainingJobDefinition": (support.DEFINITION_HONOURED, support.DEFINITION_REFUSED),
}


def rising_to_x(hyperparameters: dict[str, str]) -> list[float | None]:
    x = float(hyperparameters["x"]) + float(hyperparameters.get("boost", "0"))
    return [x * (step / 5) for step in range(1, 6)]


def example(shape: Shape) -> Any:
    """A small, non-empty value of a botocore shape (its required members, or its first one)."""
    if shape.type_name == "structure":
        names = list(shape.required_members) or list(shape.members)[:1]
        return {name: example(shape.members[name]) for name in names}
    if shape.type_name == "list":
        return [example(shape.member)]
    if shape.type_name == "map":
        return {"key": example(shape.value)}
    if shape.type_name == "boolean":
        return True
    if shape.type_name in ("integer", "long"):
        return max(shape.metadata.get("min", 1), 1)
    if shape.type_name in ("float", "double"):
        return 1.0
    if shape.type_name == "string":
        return shape.enum[0] if shape.enum else "x" * max(shape.metadata.get("min", 1), 1)
    raise AssertionError(f"no example for {shape.type_name}")


def training_request(name: str = "job") -> dict[str, Any]:
    d = definition()
    return {
        "TrainingJobName": name,
        "HyperParameters": {**d.pop("StaticHyperParameters"), "x": "0.5"},
        **d,
    }


@pytest.mark.parametrize("shape_name", sorted(SHAPES))
def test_every_member_of_the_create_requests_is_honoured_or_refused(shape_name):
    honoured, refused = SHAPES[shape_name]
    members = set(service_model().shape_for(shape_name).members)
    assert not set(honoured) & set(refused)
    assert members - set(honoured) - set(refused) == set(), "decide: honour or refuse these members"
    assert set(honoured) | set(refused) <= members  # no stale entries


@pytest.mark.parametrize("field", sorted(support.TRAINING_REFUSED))
def test_a_refused_training_job_field_is_a_validation_error_naming_it_and_nothing_runs(tmp_path, field):
    backend, launcher = fake_backend(tmp_path, rising_to_x)
    request = training_request()
    request[field] = example(service_model().shape_for("CreateTrainingJobRequest").members[field])
    with pytest.raises(ValidationException, match=rf"^{field} is not supported by the local SageMaker"):
        backend.create_training_job(request)
    assert backend.training_jobs == {} and launcher.started == []


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda r: r["ResourceConfig"].update(InstanceCount=2), "ResourceConfig.InstanceCount 2"),
        (lambda r: r["ResourceConfig"].update(KeepAlivePeriodInSeconds=60), "ResourceConfig.KeepAlivePeriodInSeconds"),
        (lambda r: r["AlgorithmSpecification"].update(TrainingInputMode="Pipe"), "TrainingInputMode Pipe"),
        (lambda r: r["AlgorithmSpecification"].update(AlgorithmName="my-algo"), "AlgorithmSpecification.AlgorithmName"),
        (lambda r: r["InputDataConfig"][0].update(CompressionType="Gzip"), "InputDataConfig.1.CompressionType Gzip"),
        (
            lambda r: r["InputDataConfig"][0]["DataSource"]["S3DataSource"].update(S3DataType="ManifestFile"),
            "S3DataType ManifestFile",
        ),
        (lambda r: r.update(CheckpointConfig={"S3Uri": "s3://b/c", "LocalPath": "/tmp/ck"}), "LocalPath '/tmp/ck'"),
    ],
)
def test_a_value_that_cannot_run_locally_is_refused_at_create(tmp_path, change, named):
    backend, _ = fake_backend(tmp_path, rising_to_x)
    request = training_request()
    change(request)
    with pytest.raises(ValidationException, match="not supported by the local SageMaker") as refused:
        backend.create_training_job(request)
    assert named in refused.value.message


def test_a_switched_off_feature_is_not_refused(tmp_path):
    backend, launcher = fake_backend(tmp_path, rising_to_x)
    request = {**training_request(), "InfraCheckConfig": {"EnableInfraCheck": False}}
    backend.create_training_job({**request, "RemoteDebugConfig": {"EnableRemoteDebug": False}})
    assert launcher.started == ["job"]
    with pytest.raises(ValidationException, match="^InfraCheckConfig is not supported"):
        backend.create_training_job({**request, "TrainingJobName": "on", "InfraCheckConfig": {"EnableInfraCheck": 1}})


def test_the_default_checkpoint_path_and_sharded_s3_input_are_honoured(tmp_path):
    backend, launcher = fake_backend(tmp_path, rising_to_x)
    request = training_request()
    request["CheckpointConfig"] = {"S3Uri": "s3://b/c", "LocalPath": "/opt/ml/checkpoints/"}
    request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3DataDistributionType"] = "ShardedByS3Key"
    backend.create_training_job(request)
    assert launcher.started == ["job"]


def test_autotune_and_auto_parameters_are_refused(tmp_path):
    backend, _ = fake_backend(tmp_path, rising_to_x)
    with pytest.raises(ValidationException, match="^Autotune is not supported"):
        backend.create_hyper_parameter_tuning_job({**tuning_request("auto"), "Autotune": {"Mode": "Enabled"}})
    request = tuning_request("auto-params")
    request["HyperParameterTuningJobConfig"]["ParameterRanges"]["AutoParameters"] = [
        {"Name": "eta", "ValueHint": "0.1"}
    ]
    with pytest.raises(ValidationException, match="AutoParameters: Autotune is not supported"):
        backend.create_hyper_parameter_tuning_job(request)
    assert backend.tuning_jobs == {}


def test_a_refused_field_inside_a_tuning_definition_names_the_definition(tmp_path):
    backend, _ = fake_backend(tmp_path, rising_to_x)
    request = tuning_request("vpc")
    request["TrainingJobDefinition"]["VpcConfig"] = {"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-1"]}
    with pytest.raises(ValidationException, match="^TrainingJobDefinition: VpcConfig is not supported"):
        backend.create_hyper_parameter_tuning_job(request)


def test_instance_configs_run_each_job_on_the_first_configuration(tmp_path):
    backend, launcher = fake_backend(tmp_path, rising_to_x)
    request = tuning_request("flex", max_jobs=2)
    d = request["TrainingJobDefinition"]
    del d["ResourceConfig"]
    d["HyperParameterTuningResourceConfig"] = {
        "AllocationStrategy": "Prioritized",
        "InstanceConfigs": [
            {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 8},
            {"InstanceType": "ml.c5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 8},
        ],
    }
    backend.create_hyper_parameter_tuning_job(request)
    run_tuning(backend, launcher, "flex")
    assert {j.spec["ResourceConfig"]["InstanceType"] for j in backend.training_jobs.values()} == {"ml.m5.xlarge"}


def test_network_isolation_gives_the_job_no_aws_endpoint_nor_credentials():
    assert {"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID"} <= set(base_environment("us-east-1", "http://127.0.0.1:1"))
    isolated = base_environment("us-east-1", "http://127.0.0.1:1", isolated=True)
    assert not [k for k in isolated if k.startswith("AWS_")]


# --- multi-algorithm tuning --------------------------------------------------------------------------
def two_algorithms(name: str, **config: Any) -> dict[str, Any]:
    """Definition "a" emits metric `objective`, "b" emits `score` and, with boost 1, scores higher."""
    request = tuning_request(name, max_jobs=4, parallel=2, **config)
    ranges = request["HyperParameterTuningJobConfig"].pop("ParameterRanges")
    request["HyperParameterTuningJobConfig"].pop("HyperParameterTuningJobObjective")
    a = {
        **definition(),
        "DefinitionName": "a",
        "TuningObjective": {"Type": "Maximize", "MetricName": METRIC},
        "HyperParameterRanges": ranges,
    }
    b = copy.deepcopy(a)
    b.update(DefinitionName="b", TuningObjective={"Type": "Maximize", "MetricName": "score"})
    b["AlgorithmSpecification"]["MetricDefinitions"] = [{"Name": "score", "Regex": r"score=([-+]?[0-9.]+)"}]
    b["StaticHyperParameters"] = {**b["StaticHyperParameters"], "boost": "1"}
    del request["TrainingJobDefinition"]
    request["TrainingJobDefinitions"] = [a, b]
    return request


def test_each_definition_is_judged_by_its_own_objective_and_the_best_comes_from_it(tmp_path):
    backend, launcher = fake_backend(tmp_path, rising_to_x)
    backend.create_hyper_parameter_tuning_job(two_algorithms("multi"))
    described = run_tuning(backend, launcher, "multi")

    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["ObjectiveStatusCounters"] == {"Succeeded": 4, "Pending": 0, "Failed": 0}
    listed = backend.list_training_jobs_for_hyper_parameter_tuning_job(
        {"HyperParameterTuningJobName": "multi", "MaxResults": 10}
    )["TrainingJobSummaries"]
    for summary in listed:
        job = backend.training_jobs[summary["TrainingJobName"]]
        metric = {"a": METRIC, "b": "score"}[summary["TrainingJobDefinitionName"]]
        reported = summary["FinalHyperParameterTuningJobObjectiveMetric"]
        assert reported["MetricName"] == metric
        assert reported["Value"] == job.metrics[metric][-1][1]
    best = described["BestTrainingJob"]
    assert best["TrainingJobDefinitionName"] == "b"  # boost 1 beats every x in [0, 1]
    assert best["FinalHyperParameterTuningJobObjectiveMetric"]["MetricName"] == "score"
    assert best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == max(
        s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for s in listed
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r["HyperParameterTuningJobConfig"].update(TrainingJobEarlyStoppingType="Auto"), "early stopping"),
        (
            lambda r: r.update(
                WarmStartConfig={
                    "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "p"}],
                    "WarmStartType": "IdenticalDataAndAlgorithm",
                }
            ),
            "WarmStartConfig is available only when tuning a single algorithm",
        ),
        (lambda r: r["TrainingJobDefinitions"][1]["TuningObjective"].update(Type="Minimize"), "TuningObjective.Type"),
    ],
)
def test_what_aws_allows_only_for_one_algorithm_is_refused_with_two(tmp_path, change, message):
    backend, _ = fake_backend(tmp_path, rising_to_x)
    request = two_algorithms("refused")
    change(request)
    with pytest.raises(ValidationException, match=message):
        backend.create_hyper_parameter_tuning_job(request)


# --- RetryStrategy -----------------------------------------------------------------------------------
def test_a_job_failed_by_an_internal_error_counts_as_retryable(tmp_path):
    backend, launcher = fake_backend(tmp_path, rising_to_x)
    backend.create_hyper_parameter_tuning_job(tuning_request("retry", max_jobs=2, parallel=2))
    launcher.schedulers["retry"].step()
    internal, algorithm = sorted(backend.training_jobs.values(), key=lambda j: j.name)
    internal.finish("Failed", "Failed", "Training job failed", "InternalServerError: lost", retryable=True)
    algorithm.finish("Failed", "Failed", "Training job failed", "AlgorithmError: exit 1")
    described = run_tuning(backend, launcher, "retry")
    counters = described["TrainingJobStatusCounters"]
    assert (counters["RetryableError"], counters["NonRetryableError"]) == (1, 1)


def test_may_retry_counts_down_maximum_retry_attempts(tmp_path):
    backend, _ = fake_backend(tmp_path, rising_to_x)
    backend.create_training_job({**training_request(), "RetryStrategy": {"MaximumRetryAttempts": 2}})
    job = backend.training_jobs["job"]
    allowed = []
    for _ in range(3):
        allowed.append(job.may_retry())
        job.retries += 1
    assert allowed == [True, True, False]
    backend.create_training_job(training_request("plain"))
    assert not backend.training_jobs["plain"].may_retry()


# --- documented semantics --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("gain", "max_jobs", "completed"),
    [
        (1.005, 20, 4),  # 0.5 % each: none counts as an improvement, so the first and 3 more end the search
        (1.02, 8, 8),  # 2 % each: every job improves, the budget ends it
    ],
)
def test_best_objective_not_improving_counts_gains_under_one_percent_as_none(tmp_path, gain, max_jobs, completed):
    levels = iter(gain**i for i in range(100))
    backend, launcher = fake_backend(tmp_path, lambda h: [next(levels)])
    criteria = {"BestObjectiveNotImproving": {"MaxNumberOfTrainingJobsNotImproving": 3}}
    request = tuning_request("flat", max_jobs=max_jobs, parallel=1, TuningJobCompletionCriteria=criteria)
    backend.create_hyper_parameter_tuning_job(request)
    assert run_tuning(backend, launcher, "flat")["TrainingJobStatusCounters"]["Completed"] == completed


@pytest.mark.parametrize(("kind", "shown"), [("IdenticalDataAndAlgorithm", True), ("TransferLearning", False)])
def test_overall_best_training_job_only_for_identical_data_and_algorithm(tmp_path, kind, shown):
    backend, launcher = fake_backend(tmp_path, rising_to_x)
    backend.create_hyper_parameter_tuning_job(tuning_request("parent", max_jobs=2))
    run_tuning(backend, launcher, "parent")
    child = tuning_request("child", max_jobs=2)
    child["WarmStartConfig"] = {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "parent"}],
        "WarmStartType": kind,
    }
    backend.create_hyper_parameter_tuning_job(child)
    described = run_tuning(backend, launcher, "child")
    assert ("OverallBestTrainingJob" in described) is shown


def test_list_defaults_and_objective_sort_as_documented(tmp_path):
    # x = 0 fails (None at the first round): it has no objective.
    backend, launcher = fake_backend(tmp_path, lambda h: [None] if h["x"] == "0" else rising_to_x(h))
    request = tuning_request("lists", strategy="Grid", max_jobs=3, parallel=3)
    request["HyperParameterTuningJobConfig"]["ParameterRanges"] = {
        "CategoricalParameterRanges": [{"Name": "x", "Values": ["0.5", "0", "0.9"]}]
    }
    backend.create_hyper_parameter_tuning_job(request)
    backend.create_hyper_parameter_tuning_job(tuning_request("another"))
    run_tuning(backend, launcher, "lists")

    tuning_jobs = backend.list_hyper_parameter_tuning_jobs({})["HyperParameterTuningJobSummaries"]
    assert [t["HyperParameterTuningJobName"] for t in tuning_jobs] == ["another", "lists"]  # Name, Ascending
    listed = backend.list_training_jobs_for_hyper_parameter_tuning_job({"HyperParameterTuningJobName": "lists"})
    names = [s["TrainingJobName"] for s in listed["TrainingJobSummaries"]]
    assert names == sorted(names) and len(names) == 3
    by_objective = backend.list_training_jobs_for_hyper_parameter_tuning_job(
        {"HyperParameterTuningJobName": "lists", "SortBy": "FinalObjectiveMetricValue", "SortOrder": "Descending"}
    )["TrainingJobSummaries"]
    assert [s["TunedHyperParameters"]["x"] for s in by_objective] == ["0.9", "0.5"]  # the failed one left out


def test_list_training_jobs_takes_max_results_before_status_equals(tmp_path):
    backend, launcher = fake_backend(tmp_path, rising_to_x)
    for name in ("a-done", "b-running", "c-done"):
        backend.create_training_job(training_request(name))
    backend.training_jobs["a-done"].finish("Completed", "Completed", "done")
    backend.training_jobs["c-done"].finish("Completed", "Completed", "done")
    params = {"SortBy": "Name", "SortOrder": "Ascending", "StatusEquals": "Completed"}
    first = backend.list_training_jobs({**params, "MaxResults": 2})
    # The first two jobs by name, then those of them Completed: a-done only, and a token to go on.
    assert [s["TrainingJobName"] for s in first["TrainingJobSummaries"]] == ["a-done"]
    rest = backend.list_training_jobs({**params, "MaxResults": 2, "NextToken": first["NextToken"]})
    assert [s["TrainingJobName"] for s in rest["TrainingJobSummaries"]] == ["c-done"]
    assert len(backend.list_training_jobs(params)["TrainingJobSummaries"]) == 2


def test_hyperband_infers_max_resource_from_the_keys_aws_names_and_stops_jobs_there(tmp_path):
    backend, launcher = fake_backend(tmp_path, lambda h: [float(h["x"]) + 0.1 * s for s in range(1, 9)])  # 8 steps
    request = tuning_request("hb", strategy="Hyperband", max_jobs=3, parallel=3)
    statics = request["TrainingJobDefinition"]["StaticHyperParameters"]
    statics["num_epochs"] = statics.pop("epochs")
    statics["num_epochs"] = "5"
    backend.create_hyper_parameter_tuning_job(request)
    run_tuning(backend, launcher, "hb")
    steps = sorted(len(j.metrics[METRIC]) for j in backend.training_jobs.values())
    assert max(steps) == 6  # stopped at the first step past MaxResource 5
    assert {j.status for j in backend.training_jobs.values() if len(j.metrics[METRIC]) == 6} == {"Stopped"}

    bad = tuning_request("hb-num-round", strategy="Hyperband", max_jobs=3)
    statics = bad["TrainingJobDefinition"]["StaticHyperParameters"]
    statics["num_round"] = statics.pop("epochs")
    with pytest.raises(ValidationException, match="MaxResource is required"):
        backend.create_hyper_parameter_tuning_job(bad)


@pytest.mark.parametrize(
    ("value", "refused"),
    [(2**31 - 1, None), (2**31, "less than or equal to 2147483647"), (-1, "greater than or equal to 0")],
)
def test_an_integer_beyond_aws_32_bits_is_refused_on_the_wire_not_accepted(value, refused):
    """JSON carries any integer; SageMaker's Integer is 32 bits. A RandomSeed of 2**32 used to pass validation and
    then break the strategy's random generator (numpy takes seeds below 2**32) once the tuning job had started."""
    from include.local_sagemaker.protocol import validate_request

    request = tuning_request("seeded", RandomSeed=value)
    if refused is None:
        validate_request("CreateHyperParameterTuningJob", request)
        return
    with pytest.raises(ValidationException, match=rf"hyperParameterTuningJobConfig\.randomSeed.*{refused}"):
        validate_request("CreateHyperParameterTuningJob", request)

"""Hyperparameter tuning jobs on the real local SageMaker, through boto3 and the Airflow provider."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from harness.local_sagemaker import ASSETS, XGBOOST_IMAGE, unique, upload_source, wait_for_tuning
from tests.specs import FLIGHT_METRIC_DEFINITIONS
from tests.tuning_helpers import curve_definition, tuning_request

TRAIN_SCRIPT = Path(__file__).resolve().parents[2] / "training_scripts" / "flight_delay" / "train.py"


def trials(sm: Any, name: str) -> list[dict[str, Any]]:
    pages = sm.get_paginator("list_training_jobs_for_hyper_parameter_tuning_job").paginate(
        HyperParameterTuningJobName=name
    )
    return [s for page in pages for s in page["TrainingJobSummaries"]]


@pytest.fixture(scope="module")
def curve(s3, bucket, channels) -> dict[str, Any]:
    code = upload_source(s3, bucket, {"curve.py": ASSETS / "curve.py"}, "code/curve/sourcedir.tar.gz")
    return curve_definition(code, channels["train"], f"s3://{bucket}/tuning")


@pytest.fixture(scope="module")
def train_py_definition(s3, bucket, channels) -> dict[str, Any]:
    code = upload_source(s3, bucket, {"train.py": TRAIN_SCRIPT}, "code/tuning-train/sourcedir.tar.gz")
    return {
        "AlgorithmSpecification": {
            "TrainingImage": XGBOOST_IMAGE,
            "TrainingInputMode": "File",
            "MetricDefinitions": FLIGHT_METRIC_DEFINITIONS,
        },
        "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
        "StaticHyperParameters": {
            "num_round": "6",
            "sagemaker_program": "train.py",
            "sagemaker_submit_directory": code,
        },
        "InputDataConfig": [
            {"ChannelName": name, "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri}}}
            for name, uri in channels.items()
        ],
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/tuning"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 300},
    }


XGB_RANGES = {
    "IntegerParameterRanges": [{"Name": "max_depth", "MinValue": "2", "MaxValue": "6"}],
    "ContinuousParameterRanges": [
        {"Name": "eta", "MinValue": "0.05", "MaxValue": "0.5", "ScalingType": "Logarithmic"},
        {"Name": "subsample", "MinValue": "0.5", "MaxValue": "0.99", "ScalingType": "ReverseLogarithmic"},
    ],
}


@pytest.mark.parametrize("strategy", ["Bayesian", "Random", "Hyperband"])
def test_the_providers_hook_tunes_the_training_script(sm, train_py_definition, strategy):
    from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook

    name = unique(f"hook-{strategy.lower()}")[:32]
    config = tuning_request(name, train_py_definition, strategy, XGB_RANGES, max_jobs=4, metric="validation:auc")
    if strategy == "Hyperband":
        # MaxResource given: AWS infers it only from epochs-like keys, and train.py's rounds are num_round.
        hyperband = {"MinResource": 2, "MaxResource": int(train_py_definition["StaticHyperParameters"]["num_round"])}
        config["HyperParameterTuningJobConfig"]["StrategyConfig"] = {"HyperbandStrategyConfig": hyperband}
    SageMakerHook(aws_conn_id="aws_default").create_tuning_job(config, wait_for_completion=True, check_interval=1)

    described = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    counters = described["TrainingJobStatusCounters"]
    assert counters["Completed"] + counters["Stopped"] == 4
    assert described["ObjectiveStatusCounters"]["Succeeded"] == 4
    jobs = trials(sm, name)
    assert len(jobs) == 4 and len({j["TrainingJobName"] for j in jobs}) == 4
    best = described["BestTrainingJob"]
    assert best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == max(
        j["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for j in jobs
    )
    for job in jobs:
        assert job["TrainingJobName"].startswith(f"{name}-")
        assert 2 <= int(job["TunedHyperParameters"]["max_depth"]) <= 6
        assert 0.05 <= float(job["TunedHyperParameters"]["eta"]) <= 0.5
        assert 0.5 <= float(job["TunedHyperParameters"]["subsample"]) <= 0.99
    child = sm.describe_training_job(TrainingJobName=best["TrainingJobName"])
    assert child["TuningJobArn"] == described["HyperParameterTuningJobArn"]
    final = {m["MetricName"]: m["Value"] for m in child["FinalMetricDataList"]}
    assert (
        final["ObjectiveMetric"]
        == final["validation:auc"]
        == best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
    )
    assert child["HyperParameters"]["_tuning_objective_metric"] == "validation:auc"
    assert child["HyperParameters"]["num_round"] == "6"


def test_the_providers_tuning_operator_runs_a_grid_of_the_training_script(sm, train_py_definition):
    from airflow.providers.amazon.aws.operators.sagemaker import SageMakerTuningOperator

    name = unique("operator-grid")[:32]
    grid = {
        "CategoricalParameterRanges": [
            {"Name": "max_depth", "Values": ["2", "4"]},
            {"Name": "eta", "Values": ["0.1", "0.3", "0.5"]},
        ]
    }
    config = tuning_request(name, train_py_definition, "Grid", grid, max_jobs=None, parallel=2, metric="validation:auc")
    operator = SageMakerTuningOperator(task_id="tune", config=config, wait_for_completion=True, check_interval=1)
    result = operator.execute({})
    assert result["Tuning"]["HyperParameterTuningJobStatus"] == "Completed"
    jobs = trials(sm, name)
    combos = sorted((j["TunedHyperParameters"]["max_depth"], j["TunedHyperParameters"]["eta"]) for j in jobs)
    assert combos == sorted((d, e) for d in ("2", "4") for e in ("0.1", "0.3", "0.5"))
    best = result["Tuning"]["BestTrainingJob"]
    assert best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == max(
        j["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for j in jobs
    )
    assert_never_more_than(sm, jobs, 2)


def assert_never_more_than(sm: Any, jobs: list[dict[str, Any]], parallel: int) -> None:
    """MaxParallelTrainingJobs: from creation to end, at most `parallel` of the jobs overlap."""
    spans = []
    for job in jobs:
        described = sm.describe_training_job(TrainingJobName=job["TrainingJobName"])
        spans.append((described["CreationTime"], described["TrainingEndTime"]))
    for start, _ in spans:
        assert sum(1 for s, e in spans if s <= start < e) <= parallel


def test_auto_early_stopping_stops_jobs_worse_than_the_median(sm, curve):
    name = unique("early-stop")[:32]
    definition = {**curve, "StaticHyperParameters": {**curve["StaticHyperParameters"], "epochs": "12"}}
    config = tuning_request(name, definition, "Random", max_jobs=8, parallel=2, TrainingJobEarlyStoppingType="Auto")
    sm.create_hyper_parameter_tuning_job(**config)
    described = wait_for_tuning(sm, name)
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    stopped = [j for j in trials(sm, name) if j["TrainingJobStatus"] == "Stopped"]
    assert described["TrainingJobStatusCounters"]["Stopped"] == len(stopped) >= 1
    for job in stopped:
        training = sm.describe_training_job(TrainingJobName=job["TrainingJobName"])
        messages = [t["StatusMessage"] for t in training["SecondaryStatusTransitions"]]
        assert any("early stopping" in m for m in messages)
        assert job["ObjectiveStatus"] == "Succeeded"  # evaluated with the value it had reached


def test_completion_criteria_end_the_tuning_job_early(sm, curve):
    name = unique("target")[:32]
    config = tuning_request(
        name, curve, "Random", max_jobs=20, parallel=1, TuningJobCompletionCriteria={"TargetObjectiveMetricValue": 0.5}
    )
    sm.create_hyper_parameter_tuning_job(**config)
    described = wait_for_tuning(sm, name)
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert len(trials(sm, name)) < 20
    assert described["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] >= 0.5

    name = unique("patience")[:32]
    config = tuning_request(
        name,
        curve,
        "Random",
        max_jobs=30,
        parallel=1,
        TuningJobCompletionCriteria={"BestObjectiveNotImproving": {"MaxNumberOfTrainingJobsNotImproving": 3}},
    )
    sm.create_hyper_parameter_tuning_job(**config)
    described = wait_for_tuning(sm, name)
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["TuningJobCompletionDetails"]["NumberOfTrainingJobsObjectiveNotImproving"] == 3
    assert len(trials(sm, name)) < 30


def test_failed_training_jobs_are_counted_and_do_not_stop_the_tuning_job(sm, curve):
    name = unique("failures")[:32]
    # RandomSeed 11 draws x = 0.18, 0.019, 0.463, ...: the second job fails, the first three do not all fail.
    definition = {**curve, "StaticHyperParameters": {**curve["StaticHyperParameters"], "fail_below": "0.1"}}
    sm.create_hyper_parameter_tuning_job(**tuning_request(name, definition, "Random", max_jobs=6, parallel=2))
    described = wait_for_tuning(sm, name)
    jobs = trials(sm, name)
    failed = [j for j in jobs if j["TrainingJobStatus"] == "Failed"]
    assert described["HyperParameterTuningJobStatus"] == "Completed", described.get("FailureReason")
    assert len(jobs) == 6
    assert all(float(j["TunedHyperParameters"]["x"]) < 0.1 for j in failed)
    assert described["TrainingJobStatusCounters"]["NonRetryableError"] == len(failed) >= 1
    assert described["ObjectiveStatusCounters"]["Failed"] == len(failed)
    assert all(j["ObjectiveStatus"] == "Failed" and "fail_below" in j["FailureReason"] for j in failed)
    assert_never_more_than(sm, jobs, 2)


def test_a_tuning_job_whose_first_jobs_all_fail_fails_before_spending_more(sm, curve):
    name = unique("all-fail")[:32]
    definition = {**curve, "StaticHyperParameters": {**curve["StaticHyperParameters"], "fail_below": "2"}}
    sm.create_hyper_parameter_tuning_job(**tuning_request(name, definition, "Random", max_jobs=10, parallel=1))
    described = wait_for_tuning(sm, name)
    assert described["HyperParameterTuningJobStatus"] == "Failed"
    assert "first 3 training jobs failed" in described["FailureReason"]
    assert len(trials(sm, name)) == 3


def test_stop_tuning_job_stops_its_training_jobs(sm, curve):
    name = unique("stop-tuning")[:32]
    definition = {**curve, "StaticHyperParameters": {**curve["StaticHyperParameters"], "epochs": "200"}}
    sm.create_hyper_parameter_tuning_job(**tuning_request(name, definition, "Random", max_jobs=6, parallel=2))
    deadline = time.monotonic() + 30
    while sum(j["TrainingJobStatus"] == "InProgress" for j in trials(sm, name)) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    sm.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    described = wait_for_tuning(sm, name)
    assert described["HyperParameterTuningJobStatus"] == "Stopped"
    assert {j["TrainingJobStatus"] for j in trials(sm, name)} == {"Stopped"}
    assert described["TrainingJobStatusCounters"]["Stopped"] == 2
    with pytest.raises(ClientError, match="ValidationException"):
        sm.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    sm.delete_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    with pytest.raises(ClientError) as caught:
        sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    assert caught.value.response["Error"]["Code"] == "ResourceNotFound"


@pytest.mark.parametrize("warm_start_type", ["IdenticalDataAndAlgorithm", "TransferLearning"])
def test_warm_start_chain_seeds_the_child_and_reports_the_overall_best(sm, curve, warm_start_type):
    parent = unique("parent")[:32]
    sm.create_hyper_parameter_tuning_job(**tuning_request(parent, curve, "Random", max_jobs=4, parallel=2))
    parent_described = wait_for_tuning(sm, parent)
    parent_best = parent_described["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]

    child = unique("child")[:32]
    definition = curve
    ranges = None
    if warm_start_type == "TransferLearning":
        definition = {**curve, "StaticHyperParameters": {**curve["StaticHyperParameters"], "epochs": "8"}}
        ranges = {"ContinuousParameterRanges": [{"Name": "x", "MinValue": "0.2", "MaxValue": "0.9"}]}
    request = tuning_request(child, definition, "Bayesian", ranges, max_jobs=2, parallel=1)
    request["WarmStartConfig"] = {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": parent}],
        "WarmStartType": warm_start_type,
    }
    sm.create_hyper_parameter_tuning_job(**request)
    described = wait_for_tuning(sm, child)
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["WarmStartConfig"]["WarmStartType"] == warm_start_type
    child_best = described["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
    if warm_start_type == "IdenticalDataAndAlgorithm":
        overall = described["OverallBestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
        assert overall == max(parent_best, child_best)
    else:  # only for IdenticalDataAndAlgorithm (API reference): other data, objectives that do not compare
        assert "OverallBestTrainingJob" not in described
    assert len(trials(sm, child)) == 2  # the parent's jobs seed the search; they are not all run again


def test_after_a_data_change_the_parents_best_hyperparameters_run_first(sm, curve):
    # TransferLearning: the parents' objectives were measured on other data, so the child re-runs each parent's
    # best hyperparameters first (at most half its budget) and models only its own results.
    parents = [unique(n)[:32] for n in ("tl-parent-a", "tl-parent-b")]
    for seed, parent in enumerate(parents):
        request = tuning_request(parent, curve, "Random", max_jobs=3, parallel=3)
        request["HyperParameterTuningJobConfig"]["RandomSeed"] = seed
        sm.create_hyper_parameter_tuning_job(**request)
    bests = [wait_for_tuning(sm, p)["BestTrainingJob"]["TunedHyperParameters"] for p in parents]
    child = unique("tl-child")[:32]
    definition = {**curve, "StaticHyperParameters": {**curve["StaticHyperParameters"], "epochs": "6"}}
    request = tuning_request(child, definition, "Bayesian", max_jobs=5, parallel=1)
    request["WarmStartConfig"] = {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": p} for p in parents],
        "WarmStartType": "TransferLearning",
    }
    sm.create_hyper_parameter_tuning_job(**request)
    assert wait_for_tuning(sm, child)["HyperParameterTuningJobStatus"] == "Completed"
    ran = sorted(trials(sm, child), key=lambda t: t["CreationTime"])
    assert [t["TunedHyperParameters"] for t in ran[:2]] == bests  # parent a's best, then parent b's
    assert len(ran) == 5 and all(t["TunedHyperParameters"] not in bests for t in ran[2:])


def test_a_warm_started_job_can_be_a_parent_without_its_own_parents(sm, curve):
    # AWS: warm start is not recursive, so the grandparent's jobs are simply not used; listing it is not required.
    def warm(name: str, parent: str) -> dict:
        request = tuning_request(name, curve, "Random", max_jobs=1, parallel=1)
        request["WarmStartConfig"] = {
            "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": parent}],
            "WarmStartType": "TransferLearning",
        }
        return request

    first, second, third = (unique(n)[:32] for n in ("gen1", "gen2", "gen3"))
    sm.create_hyper_parameter_tuning_job(**tuning_request(first, curve, "Random", max_jobs=2, parallel=2))
    wait_for_tuning(sm, first)
    sm.create_hyper_parameter_tuning_job(**warm(second, first))
    wait_for_tuning(sm, second)
    sm.create_hyper_parameter_tuning_job(**warm(third, second))
    described = wait_for_tuning(sm, third)
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert len(trials(sm, third)) == 1


def test_warm_start_rejects_an_incompatible_child_naming_parent_and_field(sm, curve):
    parent = unique("strict-parent")[:32]
    sm.create_hyper_parameter_tuning_job(**tuning_request(parent, curve, "Random", max_jobs=2, parallel=2))
    running = unique("running-child")[:32]
    request = tuning_request(running, curve, "Random", max_jobs=2)
    request["WarmStartConfig"] = {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": parent}],
        "WarmStartType": "TransferLearning",
    }
    with pytest.raises(ClientError, match=f"{parent}.*InProgress"):
        sm.create_hyper_parameter_tuning_job(**request)
    wait_for_tuning(sm, parent)
    other = {
        **curve,
        "AlgorithmSpecification": {**curve["AlgorithmSpecification"], "TrainingImage": "x/sagemaker-xgboost:1.5-1"},
    }
    cases = [
        (
            dict(curve, StaticHyperParameters={**curve["StaticHyperParameters"], "extra": "1"}),
            "same hyperparameter names",
        ),
        (other, "TrainingImage"),
    ]
    for definition, expected in cases:
        request = tuning_request(unique("bad-child")[:32], definition, "Random", max_jobs=2)
        request["WarmStartConfig"] = {
            "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": parent}],
            "WarmStartType": "IdenticalDataAndAlgorithm",
        }
        with pytest.raises(ClientError) as caught:
            sm.create_hyper_parameter_tuning_job(**request)
        assert caught.value.response["Error"]["Code"] == "ValidationException"
        assert parent in caught.value.response["Error"]["Message"]
        assert expected in caught.value.response["Error"]["Message"]


def test_the_aws_cli_reads_tuning_jobs(local_sagemaker, sm, curve):
    import json
    import os
    import subprocess
    import sys

    name = unique("cli")[:32]
    sm.create_hyper_parameter_tuning_job(**tuning_request(name, curve, "Random", max_jobs=1, parallel=1))
    wait_for_tuning(sm, name)
    aws = [str(Path(sys.executable).with_name("aws")), "--endpoint-url", local_sagemaker.url, "--region", "us-east-1"]
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "cli", "AWS_SECRET_ACCESS_KEY": "cli"}
    described = subprocess.run(
        [*aws, "sagemaker", "describe-hyper-parameter-tuning-job", "--hyper-parameter-tuning-job-name", name],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert json.loads(described.stdout)["HyperParameterTuningJobStatus"] == "Completed"
    missing = subprocess.run(
        [*aws, "sagemaker", "describe-hyper-parameter-tuning-job", "--hyper-parameter-tuning-job-name", "nope"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert missing.returncode != 0 and "ResourceNotFound" in missing.stderr


def test_multi_algorithm_definitions_share_one_search(sm, curve):
    name = unique("multi")[:32]
    request = tuning_request(name, curve, "Random", max_jobs=4, parallel=2)
    config = request["HyperParameterTuningJobConfig"]
    objective, ranges = config.pop("HyperParameterTuningJobObjective"), config.pop("ParameterRanges")
    definitions = []
    # Each definition names its metric differently: curve-b's jobs emit only `quality_b`.
    metrics = {"a": objective["MetricName"], "b": "quality_b"}
    for kind in ("a", "b"):
        statics = {**curve["StaticHyperParameters"], "kind": kind}
        algorithm = dict(curve["AlgorithmSpecification"])
        if kind == "b":
            algorithm["MetricDefinitions"] = [{"Name": "quality_b", "Regex": r"objective=([-+]?[0-9.]+);"}]
        definitions.append(
            {
                **curve,
                "AlgorithmSpecification": algorithm,
                "DefinitionName": f"curve-{kind}",
                "TuningObjective": {**objective, "MetricName": metrics[kind]},
                "HyperParameterRanges": ranges,
                "StaticHyperParameters": statics,
            }
        )
    del request["TrainingJobDefinition"]
    request["TrainingJobDefinitions"] = definitions
    sm.create_hyper_parameter_tuning_job(**request)
    described = wait_for_tuning(sm, name)
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["ObjectiveStatusCounters"]["Succeeded"] == 4  # each judged by its own metric
    jobs = trials(sm, name)
    assert sorted(j["TrainingJobDefinitionName"] for j in jobs) == ["curve-a", "curve-a", "curve-b", "curve-b"]
    for job in jobs:
        training = sm.describe_training_job(TrainingJobName=job["TrainingJobName"])
        kind = training["HyperParameters"]["kind"]
        assert job["TrainingJobDefinitionName"] == f"curve-{kind}"
        reported = job["FinalHyperParameterTuningJobObjectiveMetric"]
        final = {m["MetricName"]: m["Value"] for m in training["FinalMetricDataList"]}
        assert reported["MetricName"] == metrics[kind] and reported["Value"] == pytest.approx(final[metrics[kind]])
    best = described["BestTrainingJob"]
    kind = best["TrainingJobDefinitionName"][-1]
    assert best["FinalHyperParameterTuningJobObjectiveMetric"]["MetricName"] == metrics[kind]
    assert best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == max(
        j["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for j in jobs
    )


def test_spot_settings_of_the_definition_apply_to_every_training_job(sm, curve, bucket):
    name = unique("spot-tuning")[:32]
    definition = {
        **curve,
        "EnableManagedSpotTraining": True,
        "StoppingCondition": {"MaxRuntimeInSeconds": 300, "MaxWaitTimeInSeconds": 600},
        "CheckpointConfig": {"S3Uri": f"s3://{bucket}/tuning-checkpoints/{name}"},
    }
    sm.create_hyper_parameter_tuning_job(**tuning_request(name, definition, "Random", max_jobs=2, parallel=2))
    assert wait_for_tuning(sm, name)["HyperParameterTuningJobStatus"] == "Completed"
    for job in trials(sm, name):
        training = sm.describe_training_job(TrainingJobName=job["TrainingJobName"])
        assert training["EnableManagedSpotTraining"] is True
        assert training["StoppingCondition"]["MaxWaitTimeInSeconds"] == 600
        # each job its own checkpoint prefix, so parallel jobs never resume from each other's state
        assert (
            training["CheckpointConfig"]["S3Uri"] == f"s3://{bucket}/tuning-checkpoints/{name}/{job['TrainingJobName']}"
        )
        assert training["BillableTimeInSeconds"] <= training["TrainingTimeInSeconds"]


def test_convergence_detection_ends_a_search_that_stopped_improving(sm, curve):
    name = unique("converge")[:32]
    statics = {**curve["StaticHyperParameters"], "x": "0.7", "epochs": "1"}
    ranges = {"CategoricalParameterRanges": [{"Name": "kind", "Values": ["a", "a2", "a3", "a4"]}]}
    request = tuning_request(
        name,
        {**curve, "StaticHyperParameters": statics},
        "Random",
        ranges,
        max_jobs=30,
        parallel=2,
        TuningJobCompletionCriteria={"ConvergenceDetected": {"CompleteOnConvergence": "Enabled"}},
    )
    sm.create_hyper_parameter_tuning_job(**request)
    described = wait_for_tuning(sm, name)
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert "ConvergenceDetectedTime" in described["TuningJobCompletionDetails"]
    assert 10 <= len(trials(sm, name)) < 30


def test_list_training_jobs_for_a_tuning_job_filters_sorts_and_pages(sm, curve):
    name = unique("listing-hpo")[:32]
    definition = {**curve, "StaticHyperParameters": {**curve["StaticHyperParameters"], "fail_below": "0.1"}}
    sm.create_hyper_parameter_tuning_job(**tuning_request(name, definition, "Random", max_jobs=5, parallel=2))
    wait_for_tuning(sm, name)
    first = sm.list_training_jobs_for_hyper_parameter_tuning_job(HyperParameterTuningJobName=name, MaxResults=2)
    assert len(first["TrainingJobSummaries"]) == 2 and first["NextToken"]
    everything = trials(sm, name)
    assert len(everything) == 5
    # The default order is Name, Ascending (the operation's API reference)
    names = sorted(j["TrainingJobName"] for j in everything)
    assert [j["TrainingJobName"] for j in first["TrainingJobSummaries"]] == names[:2]
    ranked = sm.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name, SortBy="FinalObjectiveMetricValue", SortOrder="Descending"
    )["TrainingJobSummaries"]
    values = [
        j["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for j in ranked if j["ObjectiveStatus"] == "Succeeded"
    ]
    assert values == sorted(values, reverse=True)
    # "any training jobs that did not return an objective metric are not listed" (SortBy's API reference)
    succeeded = [j for j in everything if j["ObjectiveStatus"] == "Succeeded"]
    assert len(succeeded) < len(everything)  # fail_below failed some
    assert sorted(j["TrainingJobName"] for j in ranked) == sorted(j["TrainingJobName"] for j in succeeded)
    failed = sm.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name, StatusEquals="Failed"
    )
    assert [j["TrainingJobStatus"] for j in failed["TrainingJobSummaries"]] == ["Failed"]

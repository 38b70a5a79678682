"""Requests for tuning tests: the curve script (known optimum) and the project's training script."""

from __future__ import annotations

import json
import time
from typing import Any

from harness.local_sagemaker import ROLE, XGBOOST_IMAGE
from include.pipeline.naming import job_name_for

CURVE_METRICS = [{"Name": "objective", "Regex": r"objective=([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?);"}]
X_RANGE = {"ContinuousParameterRanges": [{"Name": "x", "MinValue": "0.0", "MaxValue": "1.0"}]}


def curve_definition(code: str, train: str, output: str, statics: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "AlgorithmSpecification": {
            "TrainingImage": XGBOOST_IMAGE,
            "TrainingInputMode": "File",
            "MetricDefinitions": CURVE_METRICS,
        },
        "RoleArn": ROLE,
        "StaticHyperParameters": {
            "sagemaker_program": "curve.py",
            "sagemaker_submit_directory": code,
            "epochs": "10",
            **(statics or {}),
        },
        "InputDataConfig": [
            {"ChannelName": "train", "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": train}}}
        ],
        "OutputDataConfig": {"S3OutputPath": output},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 300},
    }


def tuning_request(
    name: str,
    definition: dict[str, Any],
    strategy: str = "Random",
    ranges: dict[str, Any] | None = None,
    max_jobs: int | None = 4,
    parallel: int = 2,
    metric: str = "objective",
    **config: Any,
) -> dict[str, Any]:
    limits: dict[str, int] = {"MaxParallelTrainingJobs": parallel}
    if max_jobs is not None:
        limits["MaxNumberOfTrainingJobs"] = max_jobs
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": strategy,
            "ResourceLimits": limits,
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": metric},
            "ParameterRanges": X_RANGE if ranges is None else ranges,
            "RandomSeed": 11,
            **config,
        },
        "TrainingJobDefinition": definition,
    }


CHECK_INTERVAL = 1  # the deferrable operator's tests poll every second


def new_name() -> str:
    return job_name_for("hpo", "hpo_nightly", f"manual__{time.time_ns()}", "tune")


def deferrable_operator(config: dict[str, Any]):
    from hpo_sagemaker.operators import ReattachingTuningOperator

    # report_uri=None: no report URL to push, so an empty context will do.
    return ReattachingTuningOperator(
        task_id="tune",
        config=json.loads(json.dumps(config)),  # the operator adds tags to its config; keep the caller's intact
        check_interval=CHECK_INTERVAL,
        report_uri=None,
        deferrable=True,
    )

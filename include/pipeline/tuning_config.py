"""From the DAG's Params to a CreateHyperParameterTuningJob request, checked before anything is created.

`TuningParams.from_params` validates the manual-trigger form (and the nightly defaults) and raises
`ParamError` naming the Param for every combination SageMaker would refuse or that makes no sense (Hyperband
with Auto early stopping, more parallel jobs than jobs, a warm start without parents, ...). `tuning_request`
then builds the request for the provider's SageMakerTuningOperator; the local SageMaker and AWS receive the
same thing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .metrics import TRAINING_SCRIPT_METRIC_DEFINITIONS

STRATEGIES = ("Bayesian", "Random", "Grid", "Hyperband")
# "auto": TransferLearning from parents the run finds in the champion history (include/pipeline/warm_start.py).
WARM_START = {
    "none": None,
    "identical": "IdenticalDataAndAlgorithm",
    "transfer": "TransferLearning",
    "auto": "TransferLearning",
}
# hpo_on_new_data's Param defaults, here so that benchmarks/warm_start.py measures what the DAG runs: a warm
# start with half the nightly budget, validated on a week (one day is too noisy to rank the parents' bests).
RETUNE_DEFAULTS: dict[str, Any] = {"warm_start": "auto", "max_jobs": 10, "validation_days": 7}
OBJECTIVE = {"Type": "Maximize", "MetricName": "validation:auc"}
XGBOOST_RANGES = {
    "IntegerParameterRanges": [
        {"Name": "max_depth", "MinValue": "2", "MaxValue": "10", "ScalingType": "Linear"},
    ],
    "ContinuousParameterRanges": [
        {"Name": "eta", "MinValue": "0.01", "MaxValue": "0.5", "ScalingType": "Logarithmic"},
        {"Name": "min_child_weight", "MinValue": "1", "MaxValue": "20", "ScalingType": "Logarithmic"},
        {"Name": "subsample", "MinValue": "0.5", "MaxValue": "1", "ScalingType": "Linear"},
        {"Name": "colsample_bytree", "MinValue": "0.5", "MaxValue": "1", "ScalingType": "Linear"},
    ],
}
# Grid takes categorical ranges only; the grid defines the job count.
GRID_RANGES = {
    "CategoricalParameterRanges": [
        {"Name": "max_depth", "Values": ["3", "5", "7"]},
        {"Name": "eta", "Values": ["0.05", "0.1", "0.2", "0.3"]},
    ]
}


class ParamError(ValueError):
    """A Param, or a combination of Params, that must not reach SageMaker. The message names the Param."""


@dataclass(frozen=True)
class TuningParams:
    strategy: str = "Bayesian"
    max_jobs: int = 20
    max_parallel_jobs: int = 2
    early_stopping: str = "Off"
    use_spot: bool = False
    warm_start: str = "none"
    parent_tuning_jobs: tuple[str, ...] = field(default=())
    training_window_days: int = 14
    validation_days: int = 1
    num_round: int = 100

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> TuningParams:
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in params.items() if k in known and v is not None}
        parents = values.get("parent_tuning_jobs") or ()
        if isinstance(parents, str):
            parents = [p.strip() for p in parents.replace(",", "\n").splitlines() if p.strip()]
        values["parent_tuning_jobs"] = tuple(parents)
        for name in ("max_jobs", "max_parallel_jobs", "training_window_days", "validation_days", "num_round"):
            if name in values:
                try:
                    values[name] = int(values[name])
                except (TypeError, ValueError):
                    raise ParamError(f"Param {name} must be an integer, got {values[name]!r}") from None
        tuning = cls(**values)
        tuning.validate()
        return tuning

    def validate(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ParamError(f"Param strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}")
        if self.early_stopping not in ("Off", "Auto"):
            raise ParamError(f"Param early_stopping must be Off or Auto, got {self.early_stopping!r}")
        if self.strategy == "Hyperband" and self.early_stopping == "Auto":
            raise ParamError("Param early_stopping must be Off with strategy Hyperband, which stops jobs early itself")
        if not 1 <= self.max_jobs <= 500:
            raise ParamError(f"Param max_jobs must be between 1 and 500, got {self.max_jobs}")
        if not 1 <= self.max_parallel_jobs <= 100:
            raise ParamError(f"Param max_parallel_jobs must be between 1 and 100, got {self.max_parallel_jobs}")
        if self.max_parallel_jobs > self.jobs:
            raise ParamError(
                f"Param max_parallel_jobs ({self.max_parallel_jobs}) must not exceed the number of jobs ({self.jobs})"
            )
        if self.warm_start not in WARM_START:
            raise ParamError(f"Param warm_start must be one of {', '.join(WARM_START)}, got {self.warm_start!r}")
        if self.warm_start == "auto":
            if self.parent_tuning_jobs:
                raise ParamError(
                    "Param parent_tuning_jobs must be empty with warm_start=auto, which finds the parents itself"
                )
        elif self.warm_start != "none" and not 1 <= len(self.parent_tuning_jobs) <= 5:
            raise ParamError(
                f"Param parent_tuning_jobs must name 1 to 5 tuning jobs for warm_start={self.warm_start}, "
                f"got {len(self.parent_tuning_jobs)}"
            )
        if self.warm_start == "none" and self.parent_tuning_jobs:
            raise ParamError("Param parent_tuning_jobs is only used with warm_start identical or transfer")
        if not 1 <= self.training_window_days <= 60:
            raise ParamError(f"Param training_window_days must be between 1 and 60, got {self.training_window_days}")
        if not 1 <= self.validation_days <= 7:
            raise ParamError(f"Param validation_days must be between 1 and 7, got {self.validation_days}")
        if not 1 <= self.num_round <= 5000:
            raise ParamError(f"Param num_round must be between 1 and 5000, got {self.num_round}")

    @property
    def ranges(self) -> dict[str, Any]:
        return GRID_RANGES if self.strategy == "Grid" else XGBOOST_RANGES

    @property
    def jobs(self) -> int:
        if self.strategy == "Grid":
            return math.prod(len(r["Values"]) for r in GRID_RANGES["CategoricalParameterRanges"])
        return self.max_jobs


def tuning_request(
    name: str,
    params: TuningParams,
    definition: dict[str, Any],
    random_seed: int | None = None,
) -> dict[str, Any]:
    """The CreateHyperParameterTuningJob request; `definition` is the training job definition to tune."""
    limits: dict[str, int] = {"MaxParallelTrainingJobs": params.max_parallel_jobs}
    if params.strategy != "Grid":
        limits["MaxNumberOfTrainingJobs"] = params.max_jobs
    config: dict[str, Any] = {
        "Strategy": params.strategy,
        "ResourceLimits": limits,
        "HyperParameterTuningJobObjective": OBJECTIVE,
        "ParameterRanges": params.ranges,
        "TrainingJobEarlyStoppingType": params.early_stopping,
    }
    if params.strategy == "Hyperband":
        config["StrategyConfig"] = {"HyperbandStrategyConfig": {"MinResource": 5, "MaxResource": params.num_round}}
    if random_seed is not None:
        config["RandomSeed"] = random_seed
    request: dict[str, Any] = {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": config,
        "TrainingJobDefinition": definition,
    }
    if params.parent_tuning_jobs:  # "auto" without parents found runs cold
        request["WarmStartConfig"] = {
            "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": p} for p in params.parent_tuning_jobs],
            "WarmStartType": WARM_START[params.warm_start],
        }
    return request


def training_definition(
    *,
    image: str,
    role_arn: str,
    code_uri: str,
    channels: dict[str, str],
    output_uri: str,
    num_round: int,
    instance_type: str = "ml.m5.large",
    max_runtime: int = 3600,
) -> dict[str, Any]:
    """A HyperParameterTrainingJobDefinition for training_scripts/train.py in script mode."""
    return {
        "AlgorithmSpecification": {
            "TrainingImage": image,
            "TrainingInputMode": "File",
            "MetricDefinitions": TRAINING_SCRIPT_METRIC_DEFINITIONS,
        },
        "RoleArn": role_arn,
        "StaticHyperParameters": {
            "num_round": str(num_round),
            "sagemaker_program": "train.py",
            "sagemaker_submit_directory": code_uri,
        },
        "InputDataConfig": [
            {
                "ChannelName": name,
                "ContentType": "text/csv",
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri}},
            }
            for name, uri in channels.items()
        ],
        "OutputDataConfig": {"S3OutputPath": output_uri},
        "ResourceConfig": {"InstanceType": instance_type, "InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime},
    }


def xgboost_image(region: str, version: str = "1.7-1") -> str:
    """The region's SageMaker XGBoost image (the account differs per region), from the SageMaker SDK."""
    from sagemaker.core import image_uris  # imported here: the SDK takes ~2 s to import

    return image_uris.retrieve("xgboost", region=region, version=version)

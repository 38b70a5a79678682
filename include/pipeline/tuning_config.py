"""From a model's spec and a run's Params to the CreateHyperParameterTuningJob request.

`training_definition` is the spec's algorithm as a HyperParameterTrainingJobDefinition (script mode with the
run's code archive, or the built-in XGBoost algorithm); `tuning_request` adds the strategy, budget, objective,
ranges and warm start. The local SageMaker and AWS receive the same request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .params import WARM_START, RunParams

if TYPE_CHECKING:
    from .spec import ModelSpec

# The SageMaker SDK's names of the image families a spec may use.
IMAGE_FAMILIES = {"xgboost": "xgboost", "sklearn": "sklearn"}


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def parameter_ranges(spec: ModelSpec, strategy: str) -> dict[str, Any]:
    """SageMaker's ParameterRanges: the spec's grid for Grid (categorical only), its ranges otherwise."""
    if strategy == "Grid":
        return {
            "CategoricalParameterRanges": [
                {"Name": name, "Values": [str(v) for v in values]} for name, values in spec.grid.items()
            ]
        }
    ranges: dict[str, list[dict[str, str]]] = {}
    for name, tuned in spec.ranges.items():
        ranges.setdefault(f"{tuned.type}ParameterRanges", []).append(
            {"Name": name, "MinValue": _number(tuned.min), "MaxValue": _number(tuned.max), "ScalingType": tuned.scaling}
        )
    return ranges


def tuning_request(spec: ModelSpec, name: str, params: RunParams, definition: dict[str, Any]) -> dict[str, Any]:
    """The CreateHyperParameterTuningJob request; `definition` is the training job definition to tune."""
    limits: dict[str, int] = {"MaxParallelTrainingJobs": params.max_parallel_jobs}
    if params.strategy != "Grid":
        limits["MaxNumberOfTrainingJobs"] = params.max_jobs
    config: dict[str, Any] = {
        "Strategy": params.strategy,
        "ResourceLimits": limits,
        "HyperParameterTuningJobObjective": {"Type": spec.objective.type, "MetricName": spec.objective.metric},
        "ParameterRanges": parameter_ranges(spec, params.strategy),
        "TrainingJobEarlyStoppingType": params.early_stopping,
    }
    if params.strategy == "Hyperband":
        assert spec.hyperband is not None  # RunParams refuses Hyperband for a spec without it
        resource = spec.hyperband.max_resource
        if isinstance(resource, str):
            resource = int(definition["StaticHyperParameters"][resource])
        config["StrategyConfig"] = {
            "HyperbandStrategyConfig": {"MinResource": spec.hyperband.min_resource, "MaxResource": resource}
        }
    if params.random_seed is not None:
        config["RandomSeed"] = params.random_seed
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
    spec: ModelSpec,
    params: RunParams,
    *,
    image: str,
    role_arn: str,
    channels: dict[str, str],
    output_uri: str,
    code_uri: str | None,
    instance_type: str | None = None,
) -> dict[str, Any]:
    """The spec's algorithm as a HyperParameterTrainingJobDefinition, with the run's static hyperparameters."""
    statics = params.static_hyperparameters(spec)
    algorithm: dict[str, Any] = {"TrainingImage": image, "TrainingInputMode": "File"}
    if spec.builtin:
        content_type = "text/libsvm" if spec.data.channel_format == "libsvm" else "text/csv"
    else:
        algorithm["MetricDefinitions"] = spec.metric_definitions
        statics.update(sagemaker_program=spec.algorithm.entry_point or "", sagemaker_submit_directory=code_uri or "")
        content_type = "text/csv"
    return {
        "AlgorithmSpecification": algorithm,
        "RoleArn": role_arn,
        "StaticHyperParameters": statics,
        "InputDataConfig": [
            {
                "ChannelName": name,
                "ContentType": content_type,
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri}},
            }
            for name, uri in channels.items()
        ],
        "OutputDataConfig": {"S3OutputPath": output_uri},
        "ResourceConfig": {
            "InstanceType": instance_type or spec.algorithm.instance_type,
            "InstanceCount": 1,
            "VolumeSizeInGB": 10,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": spec.algorithm.max_runtime_seconds},
    }


def image_uri(spec: ModelSpec, region: str) -> str:
    """The region's SageMaker image of the spec's framework and version (the account differs per region)."""
    from sagemaker.core import image_uris  # imported here: the SDK takes ~2 s to import

    return image_uris.retrieve(IMAGE_FAMILIES[spec.algorithm.framework], region=region, version=spec.algorithm.version)

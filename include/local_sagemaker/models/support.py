"""What the local SageMaker does with each field of the create requests: honour it, or refuse it.

A field that is accepted and then ignored is a job that passes here and behaves differently on AWS, which is
what the local SageMaker exists to prevent. So every member of CreateTrainingJob, CreateHyperParameterTuningJob,
HyperParameterTuningJobConfig and HyperParameterTrainingJobDefinition is listed below as honoured (with where)
or refused (with why), and `refuse_unsupported` turns a refused field, or a value of an honoured one that
cannot be run here, into a ValidationException that names it. tests/unit/test_fidelity.py walks botocore's
input shapes and fails on a member in neither list, so a field that a new botocore adds is decided, not ignored.
"""

from __future__ import annotations

from typing import Any

from ..exceptions import ValidationException

LOCAL = "is not supported by the local SageMaker"
DEFAULT_CHECKPOINT_PATH = "/opt/ml/checkpoints"

# CreateTrainingJob: member -> how it is honoured.
TRAINING_HONOURED = {
    "TrainingJobName": "the job's name",
    "AlgorithmSpecification": "runner/training.py runs the image's program (refusals below)",
    "RoleArn": "recorded; IAM allows every action locally",
    "HyperParameters": "hyperparameters.json, SM_HPS and the script's arguments",
    "InputDataConfig": "downloaded into /opt/ml/input/data/<channel> (refusals below)",
    "OutputDataConfig": "model.tar.gz and output.tar.gz uploaded there",
    "ResourceConfig": "one local instance (InstanceCount 1)",
    "StoppingCondition": "MaxRuntimeInSeconds and MaxWaitTimeInSeconds enforced; a local job never waits "
    "for capacity, so MaxPendingTimeInSeconds is never reached",
    "Tags": "AddTags/ListTags",
    "Environment": "the job's environment (a fresh interpreter)",
    "EnableManagedSpotTraining": "simulated interruptions, billable time",
    "CheckpointConfig": "synced to and restored from S3Uri; LocalPath only its default, /opt/ml/checkpoints",
    "RetryStrategy": "an internal error (a crash of the service) restarts the job up to MaximumRetryAttempts",
    "EnableNetworkIsolation": "the job gets no AWS endpoint nor credentials",
    "EnableInterContainerTrafficEncryption": "one instance: no traffic between containers to encrypt",
    "DebugRuleConfigurations": "LossNotDecreasing, Overfit and Overtraining on the job's metrics, with the "
    "StopTraining action (models/debugger.py, which refuses the other rules)",
    "ProfilerConfig": "DisableProfiler true only (models/debugger.py refuses profiling)",
}

TRAINING_REFUSED = {
    "VpcConfig": "jobs run on this machine's network",
    "DebugHookConfig": "Debugger tensors are not collected",
    "ProfilerRuleConfigurations": "the profiler does not run",
    "TensorBoardOutputConfig": "TensorBoard output is not uploaded",
    "ExperimentConfig": "there are no SageMaker Experiments",
    "InfraCheckConfig": "there are no instance health checks",
    "MlflowConfig": "there is no managed MLflow",
    "ModelPackageConfig": "there is no model registry",
    "RemoteDebugConfig": "there is no remote debugging",
    "ServerlessJobConfig": "there are no serverless jobs",
    "SessionChainingConfig": "there is no session chaining",
}

TUNING_HONOURED = {
    "HyperParameterTuningJobName": "the tuning job's name",
    "HyperParameterTuningJobConfig": "the strategy, limits, objective, ranges and completion criteria",
    "TrainingJobDefinition": "the training jobs' request",
    "TrainingJobDefinitions": "one strategy per definition, each with its own objective and ranges",
    "WarmStartConfig": "parents' jobs seed the strategy; OverallBestTrainingJob",
    "Tags": "AddTags/ListTags",
}

TUNING_REFUSED = {"Autotune": "Autotune does not choose ranges or limits locally; give them"}

TUNING_CONFIG_HONOURED = {
    "Strategy": "Bayesian, Random, Grid, Hyperband (strategies/)",
    "StrategyConfig": "Hyperband's MinResource and MaxResource",
    "HyperParameterTuningJobObjective": "the objective of every definition without its own",
    "ResourceLimits": "jobs, parallel jobs and runtime",
    "ParameterRanges": "the ranges of every definition without its own",
    "TrainingJobEarlyStoppingType": "Auto stops jobs by the median rule",
    "TuningJobCompletionCriteria": "target value, best objective not improving, convergence",
    "RandomSeed": "seeds the strategies",
}

TUNING_CONFIG_REFUSED: dict[str, str] = {}

DEFINITION_HONOURED = {
    "DefinitionName": "TrainingJobDefinitionName of its jobs",
    "TuningObjective": "its jobs' objective",
    "HyperParameterRanges": "its jobs' ranges",
    "StaticHyperParameters": "its jobs' fixed hyperparameters",
    "AlgorithmSpecification": "as in CreateTrainingJob",
    "RoleArn": "as in CreateTrainingJob",
    "InputDataConfig": "as in CreateTrainingJob",
    "OutputDataConfig": "as in CreateTrainingJob",
    "ResourceConfig": "as in CreateTrainingJob",
    "HyperParameterTuningResourceConfig": "InstanceType/Count/Volume; with InstanceConfigs the first (highest "
    "priority) configuration, as capacity is always there",
    "StoppingCondition": "as in CreateTrainingJob",
    "EnableNetworkIsolation": "as in CreateTrainingJob",
    "EnableInterContainerTrafficEncryption": "as in CreateTrainingJob",
    "EnableManagedSpotTraining": "as in CreateTrainingJob",
    "CheckpointConfig": "as in CreateTrainingJob, a prefix per job",
    "RetryStrategy": "as in CreateTrainingJob",
    "Environment": "as in CreateTrainingJob",
}

# Refused through the definition's training-job checks (validate_create of models/training.py).
DEFINITION_REFUSED = {"VpcConfig": TRAINING_REFUSED["VpcConfig"]}


def _asks(value: Any) -> bool:
    """Whether a field asks for something: a switch-only structure (InfraCheckConfig={"EnableInfraCheck":
    False}, as clients send by default) asks for nothing."""
    if isinstance(value, dict) and value and all(key.startswith("Enable") for key in value):
        return any(value.values())
    return bool(value)


def _refuse(field: str, why: str) -> None:
    raise ValidationException(f"{field} {LOCAL}: {why}.")


def refuse_unsupported_training(spec: dict[str, Any], where: str = "") -> None:
    """CreateTrainingJob fields, and values of honoured ones, that cannot run here. `where` prefixes field paths
    (a tuning job's definition)."""
    for field, why in TRAINING_REFUSED.items():
        if _asks(spec.get(field)):
            _refuse(f"{where}{field}", why)
    algo = spec.get("AlgorithmSpecification") or {}
    if algo.get("AlgorithmName"):
        _refuse(f"{where}AlgorithmSpecification.AlgorithmName", "algorithm resources run on AWS only")
    if algo.get("TrainingInputMode") == "Pipe":
        _refuse(f"{where}AlgorithmSpecification.TrainingInputMode Pipe", "use File or FastFile")
    if algo.get("TrainingImageConfig"):
        _refuse(f"{where}AlgorithmSpecification.TrainingImageConfig", "images come from the supported list only")
    if algo.get("EnableSageMakerMetricsTimeSeries"):
        _refuse(f"{where}AlgorithmSpecification.EnableSageMakerMetricsTimeSeries", "there are no SageMaker Experiments")
    resources = spec.get("ResourceConfig") or {}
    if resources.get("InstanceCount", 1) > 1:
        _refuse(f"{where}ResourceConfig.InstanceCount {resources['InstanceCount']}", "jobs run on one instance")
    for field in ("InstanceGroups", "KeepAlivePeriodInSeconds", "TrainingPlanArn", "InstancePlacementConfig"):
        if resources.get(field):
            _refuse(f"{where}ResourceConfig.{field}", "jobs run on one local instance")
    for i, channel in enumerate(spec.get("InputDataConfig") or [], 1):
        path = f"{where}InputDataConfig.{i}"
        source = channel.get("DataSource") or {}
        if not source.get("S3DataSource"):
            _refuse(f"{path}.DataSource", "only S3DataSource channels are downloaded")
        s3 = source["S3DataSource"]
        if s3.get("S3DataType", "S3Prefix") != "S3Prefix":
            _refuse(f"{path}.DataSource.S3DataSource.S3DataType {s3['S3DataType']}", "use S3Prefix")
        if channel.get("InputMode") == "Pipe":
            _refuse(f"{path}.InputMode Pipe", "use File or FastFile")
        if channel.get("CompressionType", "None") != "None":
            _refuse(f"{path}.CompressionType {channel['CompressionType']}", "channels are not decompressed")
        if channel.get("ShuffleConfig"):
            _refuse(f"{path}.ShuffleConfig", "it shuffles Pipe and sharded input only")
    local = (spec.get("CheckpointConfig") or {}).get("LocalPath")
    if local and local.rstrip("/") != DEFAULT_CHECKPOINT_PATH:
        _refuse(
            f"{where}CheckpointConfig.LocalPath {local!r}",
            f"checkpoints are synced from {DEFAULT_CHECKPOINT_PATH} (SM_CHECKPOINT_DIR), the default",
        )


def refuse_unsupported_tuning(spec: dict[str, Any]) -> None:
    for field, why in TUNING_REFUSED.items():
        if spec.get(field):
            _refuse(field, why)
    for field, why in TUNING_CONFIG_REFUSED.items():
        if spec["HyperParameterTuningJobConfig"].get(field):
            _refuse(f"HyperParameterTuningJobConfig.{field}", why)

"""CreateHyperParameterTuningJob's checks beyond the wire shape, each a ValidationException naming the field.

AWS's rules (AMT developer guide and API reference): ranges well formed and scaled sensibly; at most 30
tunable parameters, 30 values per categorical range and 100 hyperparameters in all; tunable and static
names disjoint; StrategyConfig only with Hyperband; Grid only over categorical ranges with a job count that
matches the grid; Hyperband without Auto early stopping and with a known MaxResource; an objective metric
that the jobs emit; ResourceLimits within the account's limits; warm-start parents compatible.
"""

from __future__ import annotations

import math
import re
from typing import Any

from ..algorithms import metric_definitions
from ..exceptions import ResourceLimitExceeded, ValidationException
from .support import refuse_unsupported_tuning
from .training import validate_create as validate_training
from .tuning import TuningJob, definitions_of, objective_of, ranges_of

MAX_TUNABLE = 30
MAX_CATEGORICAL_VALUES = 30
MAX_HYPERPARAMETERS = 100
MAX_HYPERBAND_RESOURCE = 20_000
MAX_TRAINING_JOBS = 500  # the default account quota: training jobs per tuning job
MAX_PARALLEL_JOBS = 100  # the default account quota: concurrent training jobs per tuning job
MAX_WARM_START_PARENTS = 5
MAX_WARM_START_CHANGES = 10
# The static hyperparameters Hyperband infers MaxResource from (API reference, HyperbandStrategyConfig.MaxResource).
EPOCH_KEYS = ("epochs", "numepochs", "n-epochs", "n_epochs", "num_epochs")
WARM_START_TYPES = ("IdenticalDataAndAlgorithm", "TransferLearning")
# Fields of a training job definition a TransferLearning child may change; IdenticalDataAndAlgorithm also
# keeps the input data and the image.
TRANSFER_MUTABLE = {
    "DefinitionName",
    "TuningObjective",
    "HyperParameterRanges",
    "StaticHyperParameters",
    "AlgorithmSpecification",
    "InputDataConfig",
    "OutputDataConfig",
    "ResourceConfig",
    "HyperParameterTuningResourceConfig",
    "StoppingCondition",
    "EnableManagedSpotTraining",
    "CheckpointConfig",
    "RetryStrategy",
    "Environment",
    "VpcConfig",
    "RoleArn",
}


def tunable_names(ranges: dict[str, Any]) -> list[str]:
    return [
        r["Name"]
        for key in ("ContinuousParameterRanges", "IntegerParameterRanges", "CategoricalParameterRanges")
        for r in ranges.get(key) or []
    ]


def hyperband_max_resource(config: dict[str, Any], statics: dict[str, str]) -> int | None:
    given = ((config.get("StrategyConfig") or {}).get("HyperbandStrategyConfig") or {}).get("MaxResource")
    if given is not None:
        return int(given)
    for key in EPOCH_KEYS:
        if key in statics:
            try:
                return int(float(statics[key]))
            except ValueError:
                return None
    return None


def validate_create(spec: dict[str, Any], parents: dict[str, TuningJob]) -> None:
    config = spec["HyperParameterTuningJobConfig"]
    definitions = definitions_of(spec)
    refuse_unsupported_tuning(spec)
    if bool(spec.get("TrainingJobDefinition")) == bool(spec.get("TrainingJobDefinitions")):
        raise ValidationException("Specify exactly one of TrainingJobDefinition and TrainingJobDefinitions.")
    if spec.get("TrainingJobDefinitions"):
        given = [d.get("DefinitionName") for _, d in definitions]
        if None in given:
            raise ValidationException("TrainingJobDefinitions: every definition needs a DefinitionName.")
        if len(set(given)) != len(given):
            raise ValidationException(f"TrainingJobDefinitions: DefinitionName values must be unique, got {given}.")
    if len(definitions) > 1:
        _validate_multi_algorithm(spec, definitions)
    strategy = config["Strategy"]
    early_stopping = config.get("TrainingJobEarlyStoppingType", "Off")
    if config.get("StrategyConfig") and strategy != "Hyperband":
        raise ValidationException(
            f"HyperParameterTuningJobConfig.StrategyConfig is only allowed with the Hyperband strategy, not {strategy}."
        )
    _validate_limits(config, strategy)
    for path, definition in definitions:
        ranges = ranges_of(spec, definition)
        where = f"{path}.HyperParameterRanges" if definition.get("HyperParameterRanges") else "ParameterRanges"
        _validate_ranges(ranges, where, strategy)
        statics = definition.get("StaticHyperParameters") or {}
        names = tunable_names(ranges)
        both = sorted(set(names) & set(statics))
        if both:
            raise ValidationException(
                f"{path}.StaticHyperParameters: {both} are also tunable; a hyperparameter is either static or tuned."
            )
        if len(names) + len(statics) + 1 > MAX_HYPERPARAMETERS:  # + _tuning_objective_metric
            raise ValidationException(
                f"{path}: {len(names)} tunable and {len(statics)} static hyperparameters exceed the limit of "
                f"{MAX_HYPERPARAMETERS} hyperparameters in all."
            )
        _validate_objective(spec, path, definition)
        if strategy == "Grid":
            _validate_grid(config, ranges, where)
        if strategy == "Hyperband":
            _validate_hyperband(config, statics, early_stopping, path)
        _validate_training_fields(path, definition)
    if spec.get("WarmStartConfig"):
        validate_warm_start(spec, parents)


def _validate_multi_algorithm(spec: dict[str, Any], definitions: list[tuple[str, dict[str, Any]]]) -> None:
    """Tuning several algorithms at once: warm start and early stopping are for a single algorithm only
    (https://docs.aws.amazon.com/sagemaker/latest/dg/multiple-algorithm-hpo.html), and BestTrainingJob compares
    the definitions' objectives with one another, so they must all be maximized or all minimized."""
    config = spec["HyperParameterTuningJobConfig"]
    if spec.get("WarmStartConfig"):
        raise ValidationException(
            "WarmStartConfig is available only when tuning a single algorithm, not with "
            f"{len(definitions)} TrainingJobDefinitions."
        )
    if config.get("TrainingJobEarlyStoppingType", "Off") != "Off":
        raise ValidationException(
            "HyperParameterTuningJobConfig.TrainingJobEarlyStoppingType: early stopping is available only when "
            f"tuning a single algorithm, not with {len(definitions)} TrainingJobDefinitions."
        )
    types = {path: (objective_of(spec, d) or {}).get("Type") for path, d in definitions}
    if len(set(types.values())) > 1:
        raise ValidationException(
            f"TrainingJobDefinitions: every TuningObjective.Type must be the same, as the best training job is "
            f"picked across definitions; got {types}."
        )


def _number(text: str, path: str, integer: bool) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValidationException(f"{path} must be a number, got {text!r}.") from None
    if not math.isfinite(value):
        raise ValidationException(f"{path} must be finite, got {text!r}.")
    if integer and not value.is_integer():
        raise ValidationException(f"{path} must be an integer, got {text!r}.")
    return value


def _validate_ranges(ranges: dict[str, Any], where: str, strategy: str) -> None:
    seen: set[str] = set()
    count = 0
    for kind in ("Continuous", "Integer", "Categorical"):
        for i, r in enumerate(ranges.get(f"{kind}ParameterRanges") or [], 1):
            path = f"{where}.{kind}ParameterRanges.{i}"
            name = r.get("Name") or ""
            if not name:
                raise ValidationException(f"{path}.Name must not be empty.")
            if name in seen:
                raise ValidationException(f"{path}.Name: hyperparameter {name!r} has more than one range.")
            seen.add(name)
            count += 1
            if kind == "Categorical":
                values = r.get("Values") or []
                if not values:
                    raise ValidationException(f"{path}.Values must list at least one value for {name!r}.")
                if len(values) > MAX_CATEGORICAL_VALUES:
                    raise ValidationException(
                        f"{path}.Values: {len(values)} values for {name!r}, "
                        f"more than the {MAX_CATEGORICAL_VALUES} allowed."
                    )
                if len(set(values)) != len(values):
                    raise ValidationException(f"{path}.Values for {name!r} must be unique.")
                continue
            integer = kind == "Integer"
            low = _number(r.get("MinValue"), f"{path}.MinValue", integer)
            high = _number(r.get("MaxValue"), f"{path}.MaxValue", integer)
            if not low < high:
                raise ValidationException(
                    f"{path}: MinValue ({r['MinValue']}) must be less than MaxValue ({r['MaxValue']})."
                )
            scaling = r.get("ScalingType", "Auto")
            if scaling == "Logarithmic" and low <= 0:
                raise ValidationException(
                    f"{path}.ScalingType: Logarithmic scaling of {name!r} needs MinValue > 0, got {r['MinValue']}."
                )
            if scaling == "ReverseLogarithmic" and (integer or not 0 <= low < high < 1):
                raise ValidationException(
                    f"{path}.ScalingType: ReverseLogarithmic scaling is only for continuous ranges within [0, 1); "
                    f"{name!r} is {kind.lower()} {r['MinValue']}..{r['MaxValue']}."
                )
            if strategy == "Grid":
                raise ValidationException(
                    f"{path}: the Grid strategy takes categorical ranges only, not {kind.lower()}."
                )
    if count > MAX_TUNABLE:
        raise ValidationException(f"{where}: {count} tunable hyperparameters, more than the {MAX_TUNABLE} allowed.")
    if ranges.get("AutoParameters"):
        raise ValidationException(f"{where}.AutoParameters: Autotune is not supported by the local SageMaker.")


def _validate_limits(config: dict[str, Any], strategy: str) -> None:
    limits = config["ResourceLimits"]
    max_jobs = limits.get("MaxNumberOfTrainingJobs")
    parallel = limits["MaxParallelTrainingJobs"]
    if max_jobs is None and strategy != "Grid" and not config.get("TuningJobCompletionCriteria"):
        raise ValidationException(
            "HyperParameterTuningJobConfig.ResourceLimits.MaxNumberOfTrainingJobs is required unless the strategy "
            "is Grid or TuningJobCompletionCriteria is given."
        )
    if max_jobs is not None and max_jobs > MAX_TRAINING_JOBS:
        raise ResourceLimitExceeded(
            f"ResourceLimits.MaxNumberOfTrainingJobs ({max_jobs}) exceeds the account-level service limit "
            f"'Number of training jobs per tuning job' of {MAX_TRAINING_JOBS}."
        )
    if parallel > MAX_PARALLEL_JOBS:
        raise ResourceLimitExceeded(
            f"ResourceLimits.MaxParallelTrainingJobs ({parallel}) exceeds the account-level service limit "
            f"'Number of concurrent training jobs per tuning job' of {MAX_PARALLEL_JOBS}."
        )
    if max_jobs is not None and parallel > max_jobs:
        raise ValidationException(
            f"ResourceLimits.MaxParallelTrainingJobs ({parallel}) must not exceed MaxNumberOfTrainingJobs ({max_jobs})."
        )


def _validate_objective(spec: dict[str, Any], path: str, definition: dict[str, Any]) -> None:
    objective = objective_of(spec, definition)
    if not objective:
        raise ValidationException(
            "HyperParameterTuningJobConfig.HyperParameterTuningJobObjective is required "
            f"(or {path}.TuningObjective for each definition)."
        )
    algo = definition.get("AlgorithmSpecification") or {}
    names = {d["Name"] for d in metric_definitions(algo, definition.get("StaticHyperParameters") or {})}
    if objective["MetricName"] not in names:
        raise ValidationException(
            f"HyperParameterTuningJobObjective.MetricName {objective['MetricName']!r} is not emitted by the jobs: "
            f"add it to {path}.AlgorithmSpecification.MetricDefinitions (known: {sorted(names) or 'none'})."
        )
    for i, d in enumerate(algo.get("MetricDefinitions") or [], 1):
        try:
            if re.compile(d["Regex"]).groups < 1:
                raise ValidationException(
                    f"{path}.AlgorithmSpecification.MetricDefinitions.{i}.Regex must have a capture group."
                )
        except re.error as exc:
            raise ValidationException(
                f"{path}.AlgorithmSpecification.MetricDefinitions.{i}.Regex is not a valid regular expression: {exc}"
            ) from exc


def _validate_grid(config: dict[str, Any], ranges: dict[str, Any], where: str) -> None:
    combinations = math.prod(len(r.get("Values") or []) for r in ranges.get("CategoricalParameterRanges") or [])
    if not ranges.get("CategoricalParameterRanges"):
        raise ValidationException(f"{where}: the Grid strategy needs at least one categorical range.")
    max_jobs = config["ResourceLimits"].get("MaxNumberOfTrainingJobs")
    if max_jobs is not None and max_jobs != combinations:
        raise ValidationException(
            f"ResourceLimits.MaxNumberOfTrainingJobs ({max_jobs}) must equal the number of grid combinations "
            f"({combinations}) for the Grid strategy, or be left out."
        )
    if combinations > MAX_TRAINING_JOBS:
        raise ResourceLimitExceeded(
            f"{where}: the grid has {combinations} combinations, more than {MAX_TRAINING_JOBS}."
        )


def _validate_hyperband(config: dict[str, Any], statics: dict[str, str], early_stopping: str, path: str) -> None:
    if early_stopping != "Off":
        raise ValidationException(
            "HyperParameterTuningJobConfig.TrainingJobEarlyStoppingType must be Off with the Hyperband strategy, "
            "which stops jobs early itself."
        )
    hyperband = (config.get("StrategyConfig") or {}).get("HyperbandStrategyConfig") or {}
    max_resource = hyperband_max_resource(config, statics)
    if max_resource is None:
        raise ValidationException(
            "StrategyConfig.HyperbandStrategyConfig.MaxResource is required when no static hyperparameter of "
            f"{path} names the epochs ({', '.join(EPOCH_KEYS)})."
        )
    if max_resource > MAX_HYPERBAND_RESOURCE:
        raise ValidationException(
            f"StrategyConfig.HyperbandStrategyConfig.MaxResource ({max_resource}) "
            f"must be at most {MAX_HYPERBAND_RESOURCE}."
        )
    min_resource = hyperband.get("MinResource", 1)
    if min_resource > max_resource:
        raise ValidationException(
            f"StrategyConfig.HyperbandStrategyConfig.MinResource ({min_resource}) "
            f"must not exceed MaxResource ({max_resource})."
        )


def _validate_training_fields(path: str, definition: dict[str, Any]) -> None:
    probe = {key: value for key, value in definition.items() if key not in ("DefinitionName", "TuningObjective")}
    probe["ResourceConfig"] = definition.get("ResourceConfig") or definition.get("HyperParameterTuningResourceConfig")
    try:
        validate_training(probe)
    except ValidationException as exc:
        raise ValidationException(f"{path}: {exc.message}") from None


def validate_warm_start(spec: dict[str, Any], parents: dict[str, TuningJob]) -> None:
    warm = spec["WarmStartConfig"]
    names = [p["HyperParameterTuningJobName"] for p in warm["ParentHyperParameterTuningJobs"]]
    if not 1 <= len(names) <= MAX_WARM_START_PARENTS:
        raise ValidationException(
            f"WarmStartConfig.ParentHyperParameterTuningJobs: between 1 and {MAX_WARM_START_PARENTS} parents, "
            f"got {len(names)}."
        )
    if len(set(names)) != len(names):
        raise ValidationException("WarmStartConfig.ParentHyperParameterTuningJobs: a parent is listed twice.")
    child_definitions = definitions_of(spec)
    for name in names:
        parent = parents.get(name)
        where = f"WarmStartConfig parent {name!r}"
        if parent is None:
            raise ValidationException(f"{where}: tuning job not found.")
        if not parent.terminal:
            raise ValidationException(f"{where} is {parent.status}; parents must be Completed, Stopped or Failed.")
        # A parent that was itself warm-started is fine: warm start is not recursive, so only its own training
        # jobs seed this one, not its parents' (AWS: list those explicitly to use them).
        parent_definitions = definitions_of(parent.spec)
        if len(parent_definitions) != len(child_definitions):
            raise ValidationException(
                f"{where} has {len(parent_definitions)} training job definitions, this job {len(child_definitions)}."
            )
        for (path, child), (_, old) in zip(child_definitions, parent_definitions, strict=True):
            _compare_definitions(spec, parent.spec, path, child, old, where, warm["WarmStartType"])


def _compare_definitions(
    spec: dict[str, Any],
    parent_spec: dict[str, Any],
    path: str,
    child: dict[str, Any],
    old: dict[str, Any],
    where: str,
    kind: str,
) -> None:
    new_objective, old_objective = objective_of(spec, child), objective_of(parent_spec, old)
    assert new_objective is not None and old_objective is not None  # validated before, the parent's at its creation
    if (new_objective["MetricName"], new_objective["Type"]) != (old_objective["MetricName"], old_objective["Type"]):
        raise ValidationException(
            f"{where}: the objective must stay the same ({old_objective['Type']} {old_objective['MetricName']}), "
            f"got {new_objective['Type']} {new_objective['MetricName']}."
        )
    new_ranges, old_ranges = ranges_of(spec, child), ranges_of(parent_spec, old)
    new_statics, old_statics = child.get("StaticHyperParameters") or {}, old.get("StaticHyperParameters") or {}
    new_tunable, old_tunable = _kinds(new_ranges), _kinds(old_ranges)
    if set(new_tunable) | set(new_statics) != set(old_tunable) | set(old_statics):
        added = sorted((set(new_tunable) | set(new_statics)) - (set(old_tunable) | set(old_statics)))
        removed = sorted((set(old_tunable) | set(old_statics)) - (set(new_tunable) | set(new_statics)))
        raise ValidationException(
            f"{where}: {path} must have the same hyperparameter names, tunable and static together "
            f"(added {added}, removed {removed})."
        )
    for name, kind_now in new_tunable.items():
        if name in old_tunable and old_tunable[name] != kind_now:
            raise ValidationException(
                f"{where}: hyperparameter {name!r} changed type from {old_tunable[name]} to {kind_now}."
            )
    changes = sum(1 for n in new_tunable if n in old_statics) + sum(1 for n in new_statics if n in old_tunable)
    changes += sum(1 for n, v in new_statics.items() if n in old_statics and old_statics[n] != v)
    if changes > MAX_WARM_START_CHANGES:
        raise ValidationException(
            f"{where}: {changes} changes between tunable and static hyperparameters or of static values; "
            f"at most {MAX_WARM_START_CHANGES} are allowed."
        )
    old_algo, new_algo = old.get("AlgorithmSpecification") or {}, child.get("AlgorithmSpecification") or {}
    if kind == "IdenticalDataAndAlgorithm":
        if _channels(child) != _channels(old):
            raise ValidationException(f"{where}: IdenticalDataAndAlgorithm needs the same {path}.InputDataConfig.")
        if new_algo.get("TrainingImage") != old_algo.get("TrainingImage"):
            raise ValidationException(
                f"{where}: IdenticalDataAndAlgorithm needs the same {path}.AlgorithmSpecification.TrainingImage "
                f"({old_algo.get('TrainingImage')!r})."
            )
    elif _repository(new_algo.get("TrainingImage")) != _repository(old_algo.get("TrainingImage")):
        raise ValidationException(
            f"{where}: TransferLearning may change the image's version, not the image "
            f"({old_algo.get('TrainingImage')!r} -> {new_algo.get('TrainingImage')!r})."
        )
    for field in sorted(set(child) | set(old)):
        if field not in TRANSFER_MUTABLE and child.get(field) != old.get(field):
            raise ValidationException(f"{where}: {path}.{field} cannot change in a warm start.")


def _kinds(ranges: dict[str, Any]) -> dict[str, str]:
    return {
        r["Name"]: key.removesuffix("ParameterRanges")
        for key in ("ContinuousParameterRanges", "IntegerParameterRanges", "CategoricalParameterRanges")
        for r in ranges.get(key) or []
    }


def _channels(definition: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted(
        (c["ChannelName"], ((c.get("DataSource") or {}).get("S3DataSource") or {}).get("S3Uri", ""))
        for c in definition.get("InputDataConfig") or []
    )


def _repository(image: str | None) -> str:
    return (image or "").rsplit(":", 1)[0]

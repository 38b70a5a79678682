"""Parents for a warm-start retune, found from the champion history rather than from a hard-coded name.

The candidates, in order: the tuning job of the model serving now, then the tuning jobs of the newest evaluated
runs. A candidate is used only if SageMaker still has it, it has ended, and a TransferLearning child could name
it: the same objective, the same hyperparameter names with the same range types, the same training image
repository (AWS refuses the child otherwise). Anything else is skipped with a reason. At most five parents
(SageMaker's limit); none usable means the retune runs cold. Warm start is not recursive: a parent's own parents
teach the child nothing unless they are listed too, which taking the newest runs mostly does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .champion import champion_for
from .params import MAX_PARENTS
from .tuning_summary import TERMINAL_STATUSES

RANGE_KINDS = ("Integer", "Continuous", "Categorical")
# AMT adds this static hyperparameter to every training job itself; it says nothing about compatibility.
AMT_STATIC = "_tuning_objective_metric"


def candidates(history: list[dict[str, Any]], exclude: str | None = None) -> list[str]:
    """Tuning job names, champion first, then newest first, each once; `exclude` is the run's own job."""
    champion = champion_for(history, "", live=True)
    newest = sorted(history, key=lambda r: r["evaluated_at"], reverse=True)
    names = [champion["tuning_job_name"]] if champion else []
    names += [r["tuning_job_name"] for r in newest if r.get("tuning_job_name")]
    return [name for name in dict.fromkeys(names) if name != exclude]


def _definition(request: dict[str, Any]) -> dict[str, Any]:
    """The (first) training job definition of a tuning request or DescribeHyperParameterTuningJob answer."""
    return request.get("TrainingJobDefinition") or (request.get("TrainingJobDefinitions") or [{}])[0]


def _signature(request: dict[str, Any]) -> dict[str, Any]:
    """What a TransferLearning child must share with its parent."""
    config = request["HyperParameterTuningJobConfig"]
    definition = _definition(request)
    ranges = config.get("ParameterRanges") or definition.get("HyperParameterRanges") or {}
    kinds = {r["Name"]: kind for kind in RANGE_KINDS for r in ranges.get(f"{kind}ParameterRanges") or []}
    statics = set(definition.get("StaticHyperParameters") or {}) - {AMT_STATIC}
    objective = config.get("HyperParameterTuningJobObjective") or definition.get("TuningObjective") or {}
    image = (definition.get("AlgorithmSpecification") or {}).get("TrainingImage") or ""
    return {
        "objective": f"{objective.get('Type')} {objective.get('MetricName')}",
        "names": sorted(set(kinds) | statics),
        "kinds": kinds,
        "image": image.rsplit(":", 1)[0],
    }


def unusable(described: dict[str, Any] | None, child: dict[str, Any]) -> str | None:
    """Why `described` cannot be a TransferLearning parent of the tuning request `child`; None if it can."""
    if described is None:
        return "no longer exists"
    if described["HyperParameterTuningJobStatus"] not in TERMINAL_STATUSES:
        return f"is {described['HyperParameterTuningJobStatus']}, not finished"
    theirs, ours = _signature(described), _signature(child)
    if theirs["objective"] != ours["objective"]:
        return f"optimised {theirs['objective']}, not {ours['objective']}"
    if theirs["names"] != ours["names"]:
        return f"has hyperparameters {theirs['names']}, this run {ours['names']}"
    changed = sorted(n for n, kind in ours["kinds"].items() if theirs["kinds"].get(n, kind) != kind)
    if changed:
        kinds = ", ".join(f"{n} as {theirs['kinds'][n]}, this run as {ours['kinds'][n]}" for n in changed)
        return f"tunes {kinds}"
    if theirs["image"] != ours["image"]:
        return f"trained image {theirs['image']}, this run {ours['image']}"
    return None


def choose_parents(
    history: list[dict[str, Any]],
    describe: Callable[[str], dict[str, Any] | None],
    child: dict[str, Any],
    limit: int = MAX_PARENTS,
) -> tuple[list[str], list[str]]:
    """(parents, warnings) for the tuning request `child` (whose own name is never a candidate).

    `describe(name)` is DescribeHyperParameterTuningJob, None for a job that does not exist.
    """
    parents: list[str] = []
    warnings: list[str] = []
    for name in candidates(history, exclude=child.get("HyperParameterTuningJobName")):
        if len(parents) >= limit:
            break
        reason = unusable(describe(name), child)
        if reason:
            warnings.append(f"skipped parent {name}: it {reason}")
        else:
            parents.append(name)
    return parents, warnings


def find_parents(
    s3_client: Any, sm_client: Any, bucket: str, history_prefix: str, child: dict[str, Any]
) -> tuple[list[str], list[str]]:
    """choose_parents over the champion history in S3, describing candidates with SageMaker.

    If the child tuning job exists already (a cleared or retried run), its own parents are kept: choosing again
    from a history that has grown since would give the same job name a different configuration.
    """
    from botocore.exceptions import ClientError

    from .champion import read_history

    def describe(name: str) -> dict[str, Any] | None:
        try:
            return sm_client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        except ClientError as error:
            if error.response["Error"]["Code"] == "ResourceNotFound":
                return None
            raise

    existing = describe(child["HyperParameterTuningJobName"])
    if existing is not None:
        kept = (existing.get("WarmStartConfig") or {}).get("ParentHyperParameterTuningJobs") or []
        return [p["HyperParameterTuningJobName"] for p in kept], []
    return choose_parents(read_history(s3_client, bucket, history_prefix), describe, child)

"""Parents for a warm-start retune, found from the champion history rather than from a hard-coded name.

The candidates, in order: the tuning job of the model serving now, then the tuning jobs of the newest evaluated
runs. A candidate is used only if SageMaker still has it, it has ended, and it optimised the same objective;
otherwise it is skipped with a reason. At most five parents (SageMaker's limit); none usable means the retune
runs cold. Warm start is not recursive: a parent's own parents teach the child nothing unless they are listed
too, which taking the newest runs mostly does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .champion import champion_for

MAX_PARENTS = 5
TERMINAL = {"Completed", "Stopped", "Failed"}


def candidates(history: list[dict[str, Any]]) -> list[str]:
    """Tuning job names, champion first, then newest first, each once."""
    champion = champion_for(history, "", live=True)
    newest = sorted(history, key=lambda r: r["evaluated_at"], reverse=True)
    names = [champion["tuning_job_name"]] if champion else []
    names += [r["tuning_job_name"] for r in newest if r.get("tuning_job_name")]
    return list(dict.fromkeys(names))


def _unusable(described: dict[str, Any] | None, objective: dict[str, str]) -> str | None:
    if described is None:
        return "no longer exists"
    if described["HyperParameterTuningJobStatus"] not in TERMINAL:
        return f"is {described['HyperParameterTuningJobStatus']}, not finished"
    theirs = described["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]
    if (theirs["MetricName"], theirs["Type"]) != (objective["MetricName"], objective["Type"]):
        return f"optimised {theirs['Type']} {theirs['MetricName']}, not {objective['Type']} {objective['MetricName']}"
    return None


def choose_parents(
    history: list[dict[str, Any]],
    describe: Callable[[str], dict[str, Any] | None],
    objective: dict[str, str],
    limit: int = MAX_PARENTS,
) -> tuple[list[str], list[str]]:
    """(parents, warnings): `describe(name)` is DescribeHyperParameterTuningJob, None for a missing job."""
    parents: list[str] = []
    warnings: list[str] = []
    for name in candidates(history):
        if len(parents) >= limit:
            break
        reason = _unusable(describe(name), objective)
        if reason:
            warnings.append(f"skipped parent {name}: it {reason}")
        else:
            parents.append(name)
    return parents, warnings

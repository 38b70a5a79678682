"""A broken spec as Airflow shows it: `airflow dags list-import-errors` names its file and field."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.specs import MINIMAL, ROOT, changed, write, write_dag_file


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

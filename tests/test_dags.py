"""The DAG files: they load, parse without heavy imports, and run against the local SageMaker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DAGS = ROOT / "dags"
# boto3 is not on the list: Airflow's own s3:// Asset URI normalizer (the amazon provider) imports it.
HEAVY = ("pandas", "xgboost", "optuna", "sagemaker", "torch", "sklearn")


def test_dagbag_loads_every_dag_without_import_errors(local_sagemaker):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == {
        "ingest_flights",
        "hpo_nightly",
        "hpo_on_new_data",  # the flight model keeps the ids it had before specs
        "hotel_rates_ingest",
        "hotel_rates_nightly",
        "hotel_rates_on_new_data",
    }
    for dag in bag.dags.values():
        assert "hpo" in dag.tags
        assert all(task.retries >= 2 for task in dag.tasks), dag.dag_id
        # The UI's DAG docs explain every Param of the trigger form, with the default the form shows.
        assert dag.doc_md and dag.doc_md.lstrip().startswith(f"### {dag.dag_id}"), dag.dag_id
        for name, param in dag.params.items():
            row = next((line for line in dag.doc_md.splitlines() if line.startswith(f"| `{name}` |")), None)
            assert row, f"{dag.dag_id}: Param {name} is not in doc_md"
            assert param.value is None or f"`{param.value}`" in row, (dag.dag_id, row)
    assert "`auto`" in bag.dags["hpo_on_new_data"].doc_md.split("| `warm_start` |")[1].split("|")[1]
    assert bag.dags["hpo_on_new_data"].params["max_jobs"] == 10  # the spec's on_new_data defaults
    assert bag.dags["hotel_rates_nightly"].params["holdout_days"] == 7


@pytest.mark.parametrize("dag_file", sorted(p.name for p in DAGS.glob("*.py")))
def test_dag_files_parse_without_heavy_imports(dag_file):
    probe = (
        "import runpy, sys, json; import airflow.sdk; "
        f"runpy.run_path({str(DAGS / dag_file)!r}); "
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'plugins'}"},
    ).stdout
    assert json.loads(out.strip().splitlines()[-1]) == []


def test_ingest_flights_lands_the_logical_dates_partition_idempotently(airflow_db, s3):
    import pendulum
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(DAGS / "flight_delay.py")).dags["ingest_flights"]
    key = "raw/flights/date=2013-03-05/flights.parquet"
    for _ in range(2):  # a rerun of the same date rewrites the same partition
        run = dag.test(logical_date=pendulum.datetime(2013, 3, 5, tz="UTC"))
        assert run.state == "success"
        head = s3.head_object(Bucket="hpo-demo", Key=key)
        assert head["ContentLength"] > 1000
    listed = s3.list_objects_v2(Bucket="hpo-demo", Prefix="raw/flights/date=2013-03-05/")["Contents"]
    assert [o["Key"] for o in listed] == [key]


def test_the_plugin_folder_loads_cleanly_and_registers_the_report_link():
    # Airflow imports every file under plugins/ by path; one relative import there is an import error in the UI.
    probe = (
        "import json; from airflow import plugins_manager as pm; "
        "print(json.dumps([pm.get_import_errors(), [type(link).__name__ for link in pm.get_operator_extra_links()]]))"
    )
    env = {
        **os.environ,
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'plugins'}",
    }
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120, env=env
    ).stdout
    errors, links = json.loads(out.strip().splitlines()[-1])
    assert errors == {}
    assert "TuningReportLink" in links

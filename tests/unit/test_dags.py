"""The DAG files: they load, and parse without heavy imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"
# boto3 is not on the list: Airflow's own s3:// Asset URI normalizer (the amazon provider) imports it.
HEAVY = ("pandas", "xgboost", "optuna", "sagemaker", "torch", "sklearn")
# The tuning operator imports its hook (a SageMakerHook, which pulls in boto3) only when it runs.
RUN_TIME_ONLY = ("hpo_sagemaker.hooks", "airflow.providers.amazon.aws.hooks.sagemaker")


@pytest.mark.parametrize("dag_file", sorted(p.name for p in DAGS.glob("*.py")))
def test_dag_files_parse_without_heavy_imports(dag_file):
    probe = (
        "import runpy, sys, json; import airflow.sdk; "
        f"runpy.run_path({str(DAGS / dag_file)!r}); "
        f"print(json.dumps(sorted(m for m in {HEAVY + RUN_TIME_ONLY!r} if m in sys.modules)))"
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

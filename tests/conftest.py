"""One local SageMaker per test session, on a free loopback port; tests talk to it over HTTP with boto3."""

from __future__ import annotations

import atexit
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

from harness.airflow_processes import CONNECT_ARGS, SQLITE_CONNECT_ARGS_PATH
from harness.local_sagemaker import REGION, ROOT, LocalSageMakerProcess, synthetic_csv

# Airflow reads AIRFLOW_HOME once, at its first import, and keeps the metadata DB it found there. A test that
# imports Airflow before any fixture ran (a DAG factory unit test, say) must already see the session's home, or
# the session's DB, migrated later by airflow_db, is not the one this process talks to.
AIRFLOW_HOME = tempfile.mkdtemp(prefix="airflow-home-")
os.environ["AIRFLOW_HOME"] = AIRFLOW_HOME
atexit.register(shutil.rmtree, AIRFLOW_HOME, ignore_errors=True)
os.environ[CONNECT_ARGS] = SQLITE_CONNECT_ARGS_PATH  # this process writes the same SQLite DB (dag.test)

CONNECTION_SECRET = f"conn-secret-{secrets.token_hex(12)}"  # the aws_default connection's secret key, per session

# No module order is imposed: `make test`'s workers (pytest-xdist, one module per worker at a time) take the modules
# by their number of tests, so the in-process ones go first and the slow end-to-end modules start spread out among
# them. Queuing the slowest modules first instead (measured 2026-12-06) ran three Airflow stacks side by side:
# 11:15 and 1,294 CPU-s against 8:57-9:48 and 944-980 CPU-s; their pollers and idle schedulers cost CPU for as
# long as they wait, and side by side they wait longer. Longest first with at most two stacks at once (an xdist
# scheduler hook, 2026-12-07) was no better: 9:40, 10:53 and 10:19 against 10:10 in xdist's order, same code.


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The unit level runs in-process: a test there that needs the server belongs in tests/integration.
    served = [item.nodeid for item in items if "/unit/" in item.nodeid and "local_sagemaker" in item.fixturenames]
    if served:
        raise pytest.UsageError(f"unit tests that start the local SageMaker (move them to tests/integration): {served}")


@pytest.fixture(scope="session")
def local_sagemaker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSageMakerProcess]:
    server = LocalSageMakerProcess(tmp_path_factory.mktemp("local-sagemaker") / "state").start()
    saved = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL", "AIRFLOW_CONN_AWS_DEFAULT", "AIRFLOW_HOME")}
    os.environ.update(server.environ())
    # The provider's hooks read the aws_default connection; pointing its endpoint_url here is all it takes.
    os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps(
        {
            "conn_type": "aws",
            "login": "testing",
            # The local SageMaker takes any credentials; a distinctive secret lets tests grep logs for it.
            "password": CONNECTION_SECRET,
            "extra": {"endpoint_url": server.url, "region_name": REGION},
        }
    )
    os.environ["AIRFLOW_HOME"] = AIRFLOW_HOME
    yield server
    server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"


@pytest.fixture(scope="session")
def model_dags_folder(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A second DAG bundle, empty at first, where tests put the DAG files of models they declare themselves."""
    return tmp_path_factory.mktemp("model-dags")


@pytest.fixture(scope="session")
def airflow_db(local_sagemaker, model_dags_folder):
    """A fresh Airflow metadata DB (SQLite) in the session's AIRFLOW_HOME with our DAGs serialized into it."""
    bundles = [
        {"name": "dags-folder", "classpath": LOCAL_BUNDLE, "kwargs": {}},
        {"name": "test-models", "classpath": LOCAL_BUNDLE, "kwargs": {"path": str(model_dags_folder)}},
    ]
    settings = {
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(bundles),
    }
    os.environ.update(settings)  # dag.test() in this process reads the same configuration
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'plugins'}"}
    for command in (["db", "migrate"], ["dags", "reserialize"]):
        subprocess.run(
            [sys.executable, "-m", "airflow", *command], env=env, check=True, capture_output=True, timeout=180
        )


@pytest.fixture(scope="session")
def sm(local_sagemaker: LocalSageMakerProcess) -> Any:
    return local_sagemaker.client("sagemaker")


@pytest.fixture(scope="session")
def s3(local_sagemaker: LocalSageMakerProcess) -> Any:
    return local_sagemaker.client("s3")


@pytest.fixture(scope="session")
def sm_runtime(local_sagemaker: LocalSageMakerProcess) -> Any:
    return local_sagemaker.client("sagemaker-runtime")


@pytest.fixture(scope="session")
def bucket(s3: Any) -> str:
    name = "local-sagemaker-tests"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def channels(s3: Any, bucket: str) -> dict[str, str]:
    uris = {}
    for name, seed in (("train", 0), ("validation", 1)):
        s3.put_object(Bucket=bucket, Key=f"data/{name}/part-0.csv", Body=synthetic_csv(seed=seed).encode())
        uris[name] = f"s3://{bucket}/data/{name}/"
    return uris

"""One local SageMaker per test session, on a free loopback port; tests talk to it over HTTP with boto3."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.local_sagemaker import REGION, LocalSageMakerProcess, synthetic_csv


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
            "password": "testing",
            "extra": {"endpoint_url": server.url, "region_name": REGION},
        }
    )
    os.environ["AIRFLOW_HOME"] = str(tmp_path_factory.mktemp("airflow-home"))
    yield server
    server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


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

"""docker-compose.yaml and the Dockerfile cannot rot: Compose itself validates the file, and the layout, the mounts
and the aws_default connection are what the README promises. No Docker engine is needed (there is none in CI)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yaml"
AIRFLOW_SERVICES = (
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-worker",
    "airflow-triggerer",
    "airflow-init",
)


def compose_command() -> list[str] | None:
    """`docker compose` (the plugin) or Debian's `docker-compose`; either validates a file without an engine."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def interpolate(value: str, environ: dict[str, str]) -> str:
    """Compose's `${NAME:-default}` / `${NAME}` substitution, enough for this file's values."""
    return re.sub(r"\$\{(\w+)(?::-([^}]*))?\}", lambda m: environ.get(m[1]) or m[2] or "", value)


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())["services"]  # anchors and `<<` merges resolved


def test_compose_validates_the_file():
    command = compose_command()
    if command is None:
        if os.environ.get("CI"):
            pytest.fail("CI must validate docker-compose.yaml: .ci/run installs Debian's docker-compose")
        pytest.skip("no docker compose here; `apt-get install -y docker-compose` validates the file without Docker")
    checked = subprocess.run(
        [*command, "--file", str(COMPOSE_FILE), "config", "--quiet"], capture_output=True, text=True, cwd=ROOT
    )
    assert checked.returncode == 0, checked.stderr
    listed = subprocess.run(
        [*command, "--file", str(COMPOSE_FILE), "--profile", "flower", "config", "--services"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    assert set(listed.stdout.split()) >= {"postgres", "redis", "local-sagemaker", "flower", *AIRFLOW_SERVICES}


def test_compose_rejects_a_broken_file(tmp_path):
    """The validation above is worth something: a misspelt key and a dangling dependency both fail it."""
    command = compose_command()
    if command is None:
        pytest.skip("no docker compose here")
    text = COMPOSE_FILE.read_text()
    for broken in (
        text.replace("    command: scheduler\n", "    comand: scheduler\n"),
        text.replace(
            "      airflow-init:\n        condition: service_completed_successfully\n",
            "      missing:\n        condition: service_completed_successfully\n",
            1,
        ),
    ):
        assert broken != text
        (tmp_path / "docker-compose.yaml").write_text(broken)
        checked = subprocess.run([*command, "config", "--quiet"], capture_output=True, text=True, cwd=tmp_path)
        assert checked.returncode != 0


def test_it_is_airflows_celery_layout_with_the_local_sagemaker(services):
    assert set(services) >= {"postgres", "redis", "local-sagemaker", "flower", *AIRFLOW_SERVICES}
    assert services["flower"]["profiles"] == ["flower"]
    for name in AIRFLOW_SERVICES:
        environment = services[name]["environment"]
        assert interpolate(environment["AIRFLOW__CORE__EXECUTOR"], {}) == "CeleryExecutor", name
        assert interpolate(environment["AIRFLOW__CORE__EXECUTOR"], {"AIRFLOW_EXECUTOR": "LocalExecutor"}) == (
            "LocalExecutor"
        ), name
        assert environment["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://"), name
        mounts = {interpolate(volume, {}).split(":")[1] for volume in services[name]["volumes"]}
        assert mounts >= {f"/opt/airflow/{d}" for d in ("dags", "plugins", "include", "training_scripts")}, name
    worker = services["airflow-worker"]
    assert "container_name" not in worker and "ports" not in worker  # `--scale airflow-worker=3` needs both absent
    assert services["airflow-init"]["environment"]["_AIRFLOW_DB_MIGRATE"] == "true"


def test_the_aws_default_connection_points_at_the_local_sagemaker_service(services):
    from airflow.models.connection import Connection
    from airflow.providers.amazon.aws.utils.connection_wrapper import AwsConnectionWrapper

    uri = interpolate(services["airflow-worker"]["environment"]["AIRFLOW_CONN_AWS_DEFAULT"], {})
    wrapped = AwsConnectionWrapper(Connection(conn_id="aws_default", uri=uri))
    assert wrapped.endpoint_url == "http://local-sagemaker:4566"
    assert wrapped.region_name == "us-east-1"
    local = services["local-sagemaker"]
    command = local["command"]
    assert command[command.index("--port") + 1] == "4566"
    # Pointing the same variable at AWS is the whole switch.
    real = interpolate(
        services["airflow-worker"]["environment"]["AIRFLOW_CONN_AWS_DEFAULT"],
        {"AIRFLOW_CONN_AWS_DEFAULT": "aws://?region_name=eu-west-1"},
    )
    assert AwsConnectionWrapper(Connection(conn_id="aws_default", uri=real)).endpoint_url is None


def test_every_published_port_is_on_loopback(services):
    published = [(name, port) for name, service in services.items() for port in service.get("ports", [])]
    assert published, "the UI and the local SageMaker are published for the host"
    for name, port in published:
        assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond this machine"


def test_the_dockerfile_extends_the_official_image_of_the_pinned_airflow():
    dockerfile = (ROOT / "Dockerfile").read_text()
    pinned = re.search(r"^apache-airflow==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M)[1]
    assert f"ARG AIRFLOW_VERSION={pinned}\n" in dockerfile
    assert "FROM apache/airflow:${AIRFLOW_VERSION}-python3.11" in dockerfile
    assert "-r /requirements.txt" in dockerfile

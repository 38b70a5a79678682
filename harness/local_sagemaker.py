"""Start and stop a real local SageMaker process for tests and benchmarks."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from include.pipeline.tuning_summary import TERMINAL_STATUSES  # a client's view: where jobs end

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "tests" / "assets"  # what the tests train, serve and upload
REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LocalSageMakerProcess:
    state_dir: Path
    port: int = field(default_factory=free_port)
    extra_args: list[str] = field(default_factory=list)
    process: subprocess.Popen | None = None
    env: dict[str, str] = field(default_factory=dict)  # added to this process's environment

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        state = ROOT / self.state_dir  # relative state dirs are relative to the server, which runs in ROOT
        return state.parent / f"{state.name}.log"

    def __enter__(self) -> LocalSageMakerProcess:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: Any) -> None:
        """Stop the server; if the block failed, show the end of the server's log first."""
        if kind is not None and self.log_path.is_file():
            print(self.log_path.read_text()[-3000:], file=sys.stderr)
        self.stop()

    def start(self, timeout: float = 60) -> LocalSageMakerProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "include.local_sagemaker",
                "serve",
                "--port",
                str(self.port),
                "--state-dir",
                str(self.state_dir),
                *self.extra_args,
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **self.env} if self.env else None,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"local SageMaker exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(self.url + "/_local_sagemaker/health", timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("local SageMaker did not start")

    def kill(self) -> None:
        """kill -9: no clean shutdown, as when a machine dies."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def client(self, service: str) -> Any:
        import boto3

        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )
        return session.client(service, endpoint_url=self.url)

    def environ(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
        }


T = TypeVar("T")


def wait_until(
    describe: Callable[[], T], done: Callable[[T], bool], what: str, timeout: float = 120, interval: float = 0.2
) -> T:
    """Poll `describe` until `done` holds: its last answer on success, a TimeoutError naming `what` if not."""
    deadline = time.monotonic() + timeout
    while True:
        described = describe()
        if done(described):
            return described
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not done after {timeout:.0f}s")
        time.sleep(interval)


def wait_for_job(sm: Any, name: str, timeout: float = 120) -> dict[str, Any]:
    return wait_until(
        lambda: sm.describe_training_job(TrainingJobName=name),
        lambda d: d["TrainingJobStatus"] in TERMINAL_STATUSES,
        f"training job {name}",
        timeout,
    )


def wait_for_status(sm: Any, name: str, statuses: set[str], timeout: float = 120) -> dict[str, Any]:
    return wait_until(
        lambda: sm.describe_training_job(TrainingJobName=name),
        lambda d: bool({d["SecondaryStatus"], d["TrainingJobStatus"]} & statuses),
        f"training job {name} reaching {statuses}",
        timeout,
        interval=0.1,
    )


def wait_for_endpoint(sm: Any, name: str, timeout: float = 120) -> dict[str, Any]:
    return wait_until(
        lambda: sm.describe_endpoint(EndpointName=name),
        lambda d: d["EndpointStatus"] not in ("Creating", "Updating"),
        f"endpoint {name}",
        timeout,
    )


def wait_for_tuning(sm: Any, name: str, timeout: float = 180) -> dict[str, Any]:
    return wait_until(
        lambda: sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name),
        lambda d: d["HyperParameterTuningJobStatus"] in TERMINAL_STATUSES,
        f"tuning job {name}",
        timeout,
        interval=0.3,
    )


def unique(prefix: str) -> str:
    return f"{prefix}-{int(time.time() * 1000) % 10**9}-{os.getpid() % 1000}"


def synthetic_csv(rows: int = 400, seed: int = 0) -> str:
    """Label first, no header: a learnable binary problem, small enough for a job of a second."""
    import numpy as np

    rng = np.random.default_rng(seed)
    features = rng.normal(size=(rows, 4))
    label = (features[:, 0] + 0.5 * features[:, 1] + rng.normal(scale=0.5, size=rows) > 0).astype(int)
    buffer = io.StringIO()
    np.savetxt(buffer, np.column_stack([label, features]), delimiter=",", fmt="%.6g")
    return buffer.getvalue()


def upload_source(s3: Any, bucket: str, files: dict[str, Path | bytes], key: str) -> str:
    """Pack files into a sourcedir.tar.gz in S3, as the SageMaker SDK does for script mode."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for arcname, content in files.items():
            data = content.read_bytes() if isinstance(content, Path) else content
            info = tarfile.TarInfo(arcname)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    s3.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())
    return f"s3://{bucket}/{key}"


def training_request(
    name: str,
    channels: dict[str, str],
    output: str,
    hyperparameters: dict[str, str] | None = None,
    image: str = XGBOOST_IMAGE,
    **extra: Any,
) -> dict[str, Any]:
    request: dict[str, Any] = {
        "TrainingJobName": name,
        "RoleArn": ROLE,
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
        "HyperParameters": hyperparameters
        if hyperparameters is not None
        else {"num_round": "8", "objective": "binary:logistic", "eval_metric": "auc", "max_depth": "3"},
        "InputDataConfig": [
            {
                "ChannelName": channel,
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri}},
                "ContentType": "text/csv",
            }
            for channel, uri in channels.items()
        ],
        "OutputDataConfig": {"S3OutputPath": output},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }
    for key, value in extra.items():
        request[key] = {**request.get(key, {}), **value} if isinstance(value, dict) else value
    return request

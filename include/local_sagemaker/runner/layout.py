"""The /opt/ml layout of a SageMaker training container, remapped into a per-job directory.

Scripts find every path through the SM_* environment, as in SageMaker's training toolkit, so the same
script runs here and in a container. The checkpoint directory (CheckpointConfig.LocalPath, by default
/opt/ml/checkpoints) is passed as SM_CHECKPOINT_DIR, which a portable script reads with that default.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..algorithms import SHARED_CORES_ENVIRONMENT

CURRENT_HOST = "algo-1"


@dataclass(frozen=True)
class JobLayout:
    root: Path  # plays the role of /opt/ml

    @property
    def input_config(self) -> Path:
        return self.root / "input" / "config"

    def channel(self, name: str) -> Path:
        return self.root / "input" / "data" / name

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def output(self) -> Path:
        return self.root / "output"

    @property
    def output_data(self) -> Path:
        return self.root / "output" / "data"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def code(self) -> Path:
        return self.root / "code"

    @property
    def workdir(self) -> Path:
        """The job's own directory, holding opt/ml, the log and downloaded archives."""
        return self.root.parent.parent

    @property
    def log_file(self) -> Path:
        return self.workdir / "training.log"

    def prepare(self, spec: dict[str, Any]) -> None:
        """Create the tree for a fresh attempt. Checkpoints survive attempts; model and output do not."""
        for stale in (self.model, self.output):
            shutil.rmtree(stale, ignore_errors=True)
        for path in (self.input_config, self.model, self.output_data, self.checkpoints, self.code):
            path.mkdir(parents=True, exist_ok=True)
        channels = {c["ChannelName"]: c for c in spec.get("InputDataConfig") or []}
        for name in channels:
            self.channel(name).mkdir(parents=True, exist_ok=True)
        instance_type = (spec.get("ResourceConfig") or {}).get("InstanceType", "ml.m5.large")
        config = {
            "hyperparameters.json": spec.get("HyperParameters") or {},
            "inputdataconfig.json": {
                name: _channel_config(c, spec["AlgorithmSpecification"]) for name, c in channels.items()
            },
            # What SageMaker writes for one instance; the SDK's driver scripts read every key.
            "resourceconfig.json": {
                "current_host": CURRENT_HOST,
                "current_instance_type": instance_type,
                "current_group_name": "homogeneousCluster",
                "hosts": [CURRENT_HOST],
                "instance_groups": [
                    {
                        "instance_group_name": "homogeneousCluster",
                        "instance_type": instance_type,
                        "hosts": [CURRENT_HOST],
                    }
                ],
                "network_interface_name": "eth0",
            },
        }
        for filename, body in config.items():
            (self.input_config / filename).write_text(json.dumps(body, indent=2))

    def environment(self, spec: dict[str, Any], hyperparameters: dict[str, Any], arn: str) -> dict[str, str]:
        """The SM_* variables of SageMaker's training toolkit; `hyperparameters` are the decoded user ones."""
        channels = sorted(c["ChannelName"] for c in spec.get("InputDataConfig") or [])
        env = {
            "TRAINING_JOB_NAME": spec["TrainingJobName"],
            "TRAINING_JOB_ARN": arn,
            "SM_MODEL_DIR": str(self.model),
            "SM_INPUT_DIR": str(self.root / "input"),
            "SM_INPUT_CONFIG_DIR": str(self.input_config),
            "SM_INPUT_DATA_CONFIG": (self.input_config / "inputdataconfig.json").read_text(),
            "SM_OUTPUT_DIR": str(self.output),
            "SM_OUTPUT_DATA_DIR": str(self.output_data),
            "SM_CHECKPOINT_DIR": str(self.checkpoints),
            "SM_CHANNELS": json.dumps(channels),
            "SM_HPS": json.dumps(hyperparameters),
            "SM_HOSTS": json.dumps([CURRENT_HOST]),
            "SM_CURRENT_HOST": CURRENT_HOST,
            "SM_NUM_CPUS": str(os.cpu_count() or 1),
            "SM_NUM_GPUS": "0",
            "SM_MODULE_DIR": str(self.code),
            "SM_OPT_ML_DIR": str(self.root),
        }
        for name in channels:
            env[f"SM_CHANNEL_{name.upper()}"] = str(self.channel(name))
        for key, value in hyperparameters.items():
            env[f"SM_HP_{key.upper()}"] = value if isinstance(value, str) else json.dumps(value)
        env["SM_TRAINING_ENV"] = json.dumps(
            {
                "hyperparameters": hyperparameters,
                "channel_input_dirs": {name: str(self.channel(name)) for name in channels},
                "model_dir": str(self.model),
                "output_data_dir": str(self.output_data),
                "current_host": CURRENT_HOST,
                "hosts": [CURRENT_HOST],
                "job_name": spec["TrainingJobName"],
            }
        )
        return env


def _channel_config(channel: dict[str, Any], algorithm: dict[str, Any]) -> dict[str, Any]:
    """A channel's entry in inputdataconfig.json, with the defaults SageMaker fills in."""
    source = (channel.get("DataSource") or {}).get("S3DataSource") or {}
    config = {
        "TrainingInputMode": channel.get("InputMode") or algorithm.get("TrainingInputMode", "File"),
        "S3DistributionType": source.get("S3DataDistributionType", "FullyReplicated"),
        "RecordWrapperType": channel.get("RecordWrapperType", "None"),
    }
    if channel.get("ContentType"):
        config["ContentType"] = channel["ContentType"]
    return config


def interpreter_shims(directory: Path) -> Path:
    """python, python3, pip and pip3 running this interpreter, for a job's PATH: programs find the image's
    Python there, as in its container (the SDK's sm_train.sh requires both python3 and pip3). Shims, not
    symlinks: a symlink to a virtualenv's python would start Python outside the virtualenv."""
    directory.mkdir(parents=True, exist_ok=True)
    commands = {"python": "", "python3": "", "pip": " -m pip", "pip3": " -m pip"}
    for name, module in commands.items():
        shim = directory / name
        shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)}{module} "$@"\n')
        shim.chmod(0o755)
    return directory


def base_environment(region: str, endpoint_url: str, isolated: bool = False) -> dict[str, str]:
    """A clean environment for job processes: nothing of the server's own (credentials stay out), OpenMP's waiting
    threads asleep (the cores are shared: algorithms.SHARED_CORES_ENVIRONMENT). An `isolated` job
    (EnableNetworkIsolation) gets no AWS endpoint nor credentials, as an isolated container can call none."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")}
    env = {**keep, "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1", **SHARED_CORES_ENVIRONMENT}
    if isolated:
        return env
    return {
        **env,
        # A script that calls AWS (boto3) reaches this local SageMaker, as a container reaches AWS.
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",  # noqa: S105 - a dummy credential the local services accept
    }

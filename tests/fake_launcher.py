"""A Launcher that runs simulated training jobs in-process: the backend and tuning scheduler without a server.

Each training job follows a learning curve, a function of its hyperparameters: `tick()` moves every running job
one round on (one objective value, as a job's log line would give it), ends it after its last round, and honours
a stop request (StopTrainingJob, the median rule, Hyperband) by ending it Stopped, as the runner does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from include.local_sagemaker.models.backend import SageMakerBackend
from include.local_sagemaker.models.base import now
from include.local_sagemaker.models.hosting import Endpoint, EndpointConfig
from include.local_sagemaker.models.store import StateStore
from include.local_sagemaker.models.training import TrainingJob
from include.local_sagemaker.models.tuning import TuningJob
from include.local_sagemaker.runner.tuning import TuningScheduler

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
METRIC = "objective"

# hyperparameters -> the objective after each round; a value of None fails the job at that round
Curve = Callable[[dict[str, str]], list[float | None]]


@dataclass
class FakeLauncher:
    curve: Curve
    started: list[str] = field(default_factory=list)  # every CreateTrainingJob that reached the launcher
    schedulers: dict[str, TuningScheduler] = field(default_factory=dict)
    _jobs: dict[str, tuple[SageMakerBackend, TrainingJob]] = field(default_factory=dict)

    # --- Launcher --------------------------------------------------------------------------------
    def start_training(self, backend: SageMakerBackend, job: TrainingJob) -> None:
        self.started.append(job.name)
        job.status, job.started = "InProgress", now()
        job.set_secondary("Training", "Training image download completed. Training in progress.")
        backend.save(job)
        self._jobs[job.name] = (backend, job)

    def start_tuning(self, backend: SageMakerBackend, tuning: TuningJob) -> None:
        # Driven by run_tuning's rounds rather than a thread, so that tests are deterministic.
        self.schedulers[tuning.name] = TuningScheduler(backend, tuning)

    def deploy(self, backend: SageMakerBackend, endpoint: Endpoint, config: EndpointConfig) -> None:
        endpoint.set_status("InService")
        backend.save(endpoint)

    def undeploy(self, endpoint: Endpoint) -> None:
        pass

    # --- simulated time --------------------------------------------------------------------------
    def tick(self) -> None:
        """One round of every running job."""
        for backend, job in list(self._jobs.values()):
            if job.terminal:
                continue
            with backend.lock:
                if job.stop_requested:
                    job.finish("Stopped", "Stopped", "Training job stopped")
                else:
                    curve = self.curve(job.spec["HyperParameters"])
                    # The job emits each metric its MetricDefinitions name (one log line matching every regex).
                    names = [d["Name"] for d in job.spec["AlgorithmSpecification"].get("MetricDefinitions") or []]
                    done = len(job.metrics.get(names[0], []))
                    value = curve[done]
                    if value is None:
                        job.finish("Failed", "Failed", "Training job failed", reason="AlgorithmError: diverged")
                    else:
                        for metric in names:
                            job.record_metric(metric, value, now())
                        if done + 1 == len(curve):
                            job.finish("Completed", "Completed", "Training job completed")
                backend.save(job)


def fake_backend(state: Path, curve: Curve) -> tuple[SageMakerBackend, FakeLauncher]:
    launcher = FakeLauncher(curve)
    return SageMakerBackend(REGION, StateStore(state / "state.sqlite3"), launcher), launcher


def definition(rounds: int = 5) -> dict[str, Any]:
    return {
        "AlgorithmSpecification": {
            "TrainingImage": IMAGE,
            "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": METRIC, "Regex": r"objective=([-+]?[0-9.]+)"}],
        },
        "RoleArn": ROLE,
        "StaticHyperParameters": {"sagemaker_program": "train.py", "epochs": str(rounds)},
        "InputDataConfig": [
            {"ChannelName": "train", "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/t"}}}
        ],
        "OutputDataConfig": {"S3OutputPath": "s3://b/out"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 300},
    }


def tuning_request(name: str, strategy: str = "Random", max_jobs: int = 6, parallel: int = 2, **config: Any) -> dict:
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": strategy,
            "ResourceLimits": {"MaxNumberOfTrainingJobs": max_jobs, "MaxParallelTrainingJobs": parallel},
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": METRIC},
            "ParameterRanges": {
                "ContinuousParameterRanges": [{"Name": "x", "MinValue": "0.0", "MaxValue": "1.0"}],
            },
            "RandomSeed": 7,
            **config,
        },
        "TrainingJobDefinition": definition(),
    }


def run_tuning(backend: SageMakerBackend, launcher: FakeLauncher, name: str, rounds: int = 500) -> dict[str, Any]:
    """Alternate scheduler steps and job rounds until the tuning job ends; its DescribeHyperParameterTuningJob."""
    scheduler = launcher.schedulers[name]
    for _ in range(rounds):
        if scheduler.step():
            return backend.describe_hyper_parameter_tuning_job({"HyperParameterTuningJobName": name})
        launcher.tick()
    raise AssertionError(f"{name} did not end in {rounds} rounds")

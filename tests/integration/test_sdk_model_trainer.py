"""The SageMaker Python SDK v3 runs unchanged against the local SageMaker: ModelTrainer and HyperparameterTuner."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from harness.local_sagemaker import ROLE, XGBOOST_IMAGE, unique

TRAIN_SCRIPT = Path(__file__).resolve().parents[2] / "training_scripts" / "flight_delay" / "train.py"


@pytest.fixture
def model_trainer(local_sagemaker, bucket, tmp_path):
    """A ModelTrainer of training_scripts/flight_delay/train.py (SourceCode: the code and sm_drivers channels)."""
    import boto3
    from sagemaker.core.helper.session_helper import Session
    from sagemaker.train import ModelTrainer
    from sagemaker.train.configs import Compute, SourceCode

    source = tmp_path / "src"
    source.mkdir()
    shutil.copy(TRAIN_SCRIPT, source / "train.py")
    session = Session(boto_session=boto3.Session(region_name="us-east-1"), default_bucket=bucket)

    def make(base_job_name: str, **hyperparameters: Any) -> ModelTrainer:
        return ModelTrainer(
            training_image=XGBOOST_IMAGE,
            source_code=SourceCode(source_dir=str(source), entry_script="train.py"),
            role=ROLE,
            sagemaker_session=session,
            hyperparameters=hyperparameters,
            compute=Compute(instance_type="ml.m5.large", instance_count=1),
            base_job_name=base_job_name,
        )

    return make


def inputs(channels: dict[str, str]) -> list[Any]:
    from sagemaker.train.configs import InputData

    return [InputData(channel_name=name, data_source=uri) for name, uri in channels.items()]


def test_model_trainer_with_source_code_trains_the_script(local_sagemaker, sm, channels, model_trainer):
    trainer = model_trainer("model-trainer", num_round=4, max_depth=3)
    trainer.train(input_data_config=inputs(channels), wait=True, logs=False)
    name = trainer._latest_training_job.training_job_name
    described = sm.describe_training_job(TrainingJobName=name)
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    assert {c["ChannelName"] for c in described["InputDataConfig"]} >= {"code", "sm_drivers", "train"}
    log = local_sagemaker.client("logs").filter_log_events(
        logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix=f"{name}/"
    )["events"]
    lines = [e["message"] for e in log]
    assert any(line.startswith("[4] train:auc=") for line in lines), lines[-5:]


def test_hyperparameter_tuner_tunes_through_the_local_service(sm, channels, model_trainer):
    from sagemaker.core.parameter import ContinuousParameter, IntegerParameter
    from sagemaker.train.tuner import HyperparameterTuner

    from tests.specs import FLIGHT_METRIC_DEFINITIONS

    trainer = model_trainer("sdk-tuner", num_round=4)
    tuner = HyperparameterTuner(
        model_trainer=trainer,
        objective_metric_name="validation:auc",
        metric_definitions=FLIGHT_METRIC_DEFINITIONS,
        hyperparameter_ranges={"max_depth": IntegerParameter(2, 5), "eta": ContinuousParameter(0.05, 0.5)},
        strategy="Random",
        max_jobs=2,
        max_parallel_jobs=2,
    )
    # The SDK names a tuning job <image>-<yymmdd-HHMM>: another test's tuner in the same minute would collide.
    tuner.tune(inputs=inputs(channels), job_name=unique("sdk-tuner")[:32], wait=True)
    described = tuner.describe()
    name = described.hyper_parameter_tuning_job_name
    raw = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    assert raw["HyperParameterTuningJobStatus"] == "Completed", raw.get("FailureReason")
    assert raw["ObjectiveStatusCounters"]["Succeeded"] == 2
    best = tuner.best_training_job()
    assert best == raw["BestTrainingJob"]["TrainingJobName"]
    assert 2 <= int(raw["BestTrainingJob"]["TunedHyperParameters"]["max_depth"].strip('"')) <= 5

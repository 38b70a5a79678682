"""The SageMaker Python SDK v3 ModelTrainer runs unchanged against the local SageMaker (code + sm_drivers)."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.local_sagemaker import ROLE, XGBOOST_IMAGE

TRAIN_SCRIPT = Path(__file__).resolve().parents[1] / "training_scripts" / "train.py"


def test_model_trainer_with_source_code_trains_the_script(local_sagemaker, sm, bucket, channels, tmp_path):
    import boto3
    from sagemaker.core.helper.session_helper import Session
    from sagemaker.train import ModelTrainer
    from sagemaker.train.configs import Compute, InputData, SourceCode

    source = tmp_path / "src"
    source.mkdir()
    shutil.copy(TRAIN_SCRIPT, source / "train.py")
    session = Session(boto_session=boto3.Session(region_name="us-east-1"), default_bucket=bucket)
    trainer = ModelTrainer(
        training_image=XGBOOST_IMAGE,
        source_code=SourceCode(source_dir=str(source), entry_script="train.py"),
        role=ROLE,
        sagemaker_session=session,
        hyperparameters={"num_round": 4, "max_depth": 3},
        compute=Compute(instance_type="ml.m5.large", instance_count=1),
        base_job_name="model-trainer",
    )
    trainer.train(
        input_data_config=[InputData(channel_name=name, data_source=uri) for name, uri in channels.items()],
        wait=True,
        logs=False,
    )
    name = trainer._latest_training_job.training_job_name
    described = sm.describe_training_job(TrainingJobName=name)
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    assert {c["ChannelName"] for c in described["InputDataConfig"]} >= {"code", "sm_drivers", "train"}
    log = local_sagemaker.client("logs").filter_log_events(
        logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix=f"{name}/"
    )["events"]
    lines = [e["message"] for e in log]
    assert any(line.startswith("[4] train:auc=") for line in lines), lines[-5:]

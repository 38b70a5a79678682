"""Train and tune training_scripts/flight_delay/train.py with the SageMaker Python SDK v3, as on AWS.

Nothing here knows which SageMaker it talks to. Against the local SageMaker:

    export AWS_ENDPOINT_URL=http://127.0.0.1:4566 AWS_DEFAULT_REGION=us-east-1 \\
           AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local
    python include/examples/sdk_v3_tuning.py --train s3://hpo-demo/data/train/ --validation s3://hpo-demo/data/validation/

Against AWS, leave AWS_ENDPOINT_URL unset and pass your own --role and --bucket. The channels hold CSV
files (label first, no header), as training_scripts/flight_delay/train.py documents.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

TRAINING_SCRIPTS = Path(__file__).resolve().parents[2] / "training_scripts" / "flight_delay"
# train.py prints `[12] train:auc=0.81; validation:auc=0.79; ...` after each round.
METRIC_DEFINITIONS = [
    {"Name": "validation:auc", "Regex": r"validation:auc=([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?);"},
    {"Name": "validation:logloss", "Regex": r"validation:logloss=([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?);"},
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", required=True, help="S3 URI of the train channel")
    parser.add_argument("--validation", required=True, help="S3 URI of the validation channel")
    # The execution role the local SageMaker's account has; the SDK checks it (IAM) before anything runs.
    parser.add_argument("--role", default="arn:aws:iam::123456789012:role/SageMakerRole")
    # The SDK would name its default bucket after the account, asking STS at its AWS address, which
    # AWS_ENDPOINT_URL does not redirect; naming the bucket avoids that call (and creates it if missing).
    parser.add_argument("--bucket", default="hpo-demo", help="for the code, the channels' copies and models")
    parser.add_argument("--rounds", type=int, default=10, help="boosting rounds per job")
    parser.add_argument("--max-jobs", type=int, default=4)
    parser.add_argument("--max-parallel-jobs", type=int, default=2)
    args = parser.parse_args()
    # The SDK logs through `logging` and leaves its configuration to the application: the streamed training
    # log is at INFO.
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("sagemaker").setLevel(logging.INFO)

    # The SDK is heavy to import (~1.5 s); the imports stay here so that --help is quick.
    from sagemaker.core import image_uris
    from sagemaker.core.helper.session_helper import Session
    from sagemaker.core.parameter import ContinuousParameter, IntegerParameter
    from sagemaker.train import ModelTrainer
    from sagemaker.train.configs import Compute, InputData, SourceCode
    from sagemaker.train.tuner import HyperparameterTuner

    session = Session(default_bucket=args.bucket)
    trainer = ModelTrainer(
        # train.py runs in script mode in the SageMaker XGBoost container (its xgboost, numpy and pandas).
        training_image=image_uris.retrieve("xgboost", region=session.boto_region_name, version="1.7-1"),
        source_code=SourceCode(source_dir=str(TRAINING_SCRIPTS), entry_script="train.py"),
        role=args.role,
        sagemaker_session=session,
        compute=Compute(instance_type="ml.m5.large", instance_count=1),
        hyperparameters={"num_round": args.rounds, "max_depth": 4, "eta": 0.3},
        base_job_name="sdk-v3-xgboost",
    )
    inputs = [
        InputData(channel_name="train", data_source=args.train),
        InputData(channel_name="validation", data_source=args.validation),
    ]

    # One training job, its log streamed from CloudWatch Logs while it runs.
    trainer.train(input_data_config=inputs, wait=True, logs=True)
    print(f"training job: {trainer._latest_training_job.training_job_name}")  # no public accessor in SDK v3

    tuner = HyperparameterTuner(
        model_trainer=trainer,
        objective_metric_name="validation:auc",
        metric_definitions=METRIC_DEFINITIONS,
        hyperparameter_ranges={"max_depth": IntegerParameter(2, 6), "eta": ContinuousParameter(0.05, 0.5)},
        max_jobs=args.max_jobs,
        max_parallel_jobs=args.max_parallel_jobs,
    )
    tuner.tune(inputs=inputs, wait=True)
    print(f"tuning job: {tuner.latest_tuning_job.hyper_parameter_tuning_job_name}")
    print(f"best training job: {tuner.best_training_job()}")
    print(tuner.analytics().dataframe().to_string())


if __name__ == "__main__":
    main()

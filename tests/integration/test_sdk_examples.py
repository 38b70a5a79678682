"""The SageMaker Python SDK v3 and the AWS CLI, unmodified, with AWS_ENDPOINT_URL as their only setting.

include/examples/sdk_v3_tuning.py runs as a user would run it (a ModelTrainer trained with logs streamed, a
HyperparameterTuner, the best job, the analytics DataFrame), with the SDK's role validation on; then what it
relies on is checked on the wire: IAM's answers for roles that exist and do not, hyperparameters as the SDK
encodes them, epoch timestamps, logs in CloudWatch before Completed and GetLogEvents paging to an empty page.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from harness.local_sagemaker import (
    ASSETS,
    REGION,
    ROLE,
    ROOT,
    XGBOOST_IMAGE,
    training_request,
    unique,
    upload_source,
    wait_for_job,
    wait_for_tuning,
)
from include.local_sagemaker.runner.logs import TRAINING_LOG_GROUP
from tests.integration.test_shapes import shape_errors

EXAMPLE = ROOT / "include" / "examples" / "sdk_v3_tuning.py"
AWS_CLI = Path(sys.executable).with_name("aws")


def user_environ(local_sagemaker: Any, home: Path) -> dict[str, str]:
    """What any AWS user has (PATH, HOME, region, credentials) and AWS_ENDPOINT_URL: nothing else."""
    config = home / ".config" / "sagemaker" / "config.yaml"  # the SDK's user config: no telemetry from tests
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n      TelemetryOptOut: true\n")
    return {"PATH": os.environ["PATH"], "HOME": str(home), **local_sagemaker.environ()}


@pytest.fixture(scope="module")
def example(local_sagemaker, bucket, channels, tmp_path_factory) -> dict[str, Any]:
    """One run of the example: its output and the names it printed."""
    env = user_environ(local_sagemaker, tmp_path_factory.mktemp("home"))
    assert set(env) == {
        "PATH",
        "HOME",
        "AWS_ENDPOINT_URL",
        "AWS_DEFAULT_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    }
    run = subprocess.run(
        [
            sys.executable,
            str(EXAMPLE),
            "--bucket",
            bucket,
            "--train",
            channels["train"],
            "--validation",
            channels["validation"],
            "--rounds",
            "3",
            "--max-jobs",
            "2",
            "--max-parallel-jobs",
            "2",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    printed = dict(re.findall(r"^(training job|tuning job|best training job): (\S+)$", run.stdout, re.MULTILINE))
    return {"stdout": run.stdout, "stderr": run.stderr, **printed}


def log_stream(local_sagemaker: Any, job: str) -> str:
    streams = local_sagemaker.client("logs").describe_log_streams(
        logGroupName=TRAINING_LOG_GROUP, logStreamNamePrefix=f"{job}/"
    )["logStreams"]
    assert len(streams) == 1, streams
    return streams[0]["logStreamName"]


def read_stream(logs: Any, stream: str, limit: int = 10000) -> tuple[list[dict[str, Any]], int, str]:
    """Every event from the head, following nextForwardToken to the first empty page, as the SDK's streamer
    does: (events, pages with events, the token the empty page returned)."""
    events: list[dict[str, Any]] = []
    token, pages = None, 0
    while True:
        page = logs.get_log_events(
            logGroupName=TRAINING_LOG_GROUP,
            logStreamName=stream,
            startFromHead=True,
            limit=limit,
            **({"nextToken": token} if token else {}),
        )
        if not page["events"]:
            assert page["nextForwardToken"] == token  # polled again later, the same token yields what is new
            return events, pages, token
        pages += 1
        assert pages < 1000, "GetLogEvents never reached an empty page"
        events += page["events"]
        token = page["nextForwardToken"]


def test_the_example_trains_and_tunes_through_the_sdk(example, sm):
    tuning = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=example["tuning job"])
    assert tuning["HyperParameterTuningJobStatus"] == "Completed", tuning.get("FailureReason")
    assert tuning["TrainingJobStatusCounters"]["Completed"] == 2
    assert example["best training job"] == tuning["BestTrainingJob"]["TrainingJobName"]
    jobs = sm.list_training_jobs_for_hyper_parameter_tuning_job(HyperParameterTuningJobName=example["tuning job"])
    names = {job["TrainingJobName"] for job in jobs["TrainingJobSummaries"]}
    assert len(names) == 2
    # The analytics DataFrame: one row per training job of the tuning job, each with its objective.
    table = example["stdout"].split(f"best training job: {example['best training job']}\n", 1)[1].splitlines()
    assert "FinalObjectiveValue" in table[0] and "max_depth" in table[0] and "eta" in table[0]
    rows = [line.split() for line in table[1:] if re.match(r"\d+\s", line)]
    assert sorted(name for row in rows for name in row if name in names) == sorted(names)
    assert len(rows) == len(names)


def test_the_model_trainer_ran_the_sdk_driver_scripts_and_streamed_the_whole_log(example, sm, local_sagemaker):
    job = sm.describe_training_job(TrainingJobName=example["training job"])
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    algorithm = job["AlgorithmSpecification"]
    assert algorithm["ContainerEntrypoint"] == ["/bin/bash"]
    assert "/opt/ml/input/data/sm_drivers/sm_train.sh" in algorithm["ContainerArguments"][-1]
    assert {c["ChannelName"] for c in job["InputDataConfig"]} == {"train", "validation", "code", "sm_drivers"}
    stream = log_stream(local_sagemaker, example["training job"])
    events, _, _ = read_stream(local_sagemaker.client("logs"), stream)
    messages = [event["message"] for event in events]
    # The driver scripts ran: sm_train.sh read the config files, the basic script driver ran train.py with the
    # hyperparameters as arguments, and train.py printed its metric lines.
    assert any(m.endswith("/opt/ml/input/config/resourceconfig.json") for m in messages if m.startswith("++ cat"))
    assert "Running Basic Script driver" in messages
    assert any(
        re.fullmatch(r"Executing command: \S+ train\.py --num_round 3 --max_depth 4 --eta 0\.3", m) for m in messages
    )
    assert any(re.match(r"\[3\] train:auc=[\d.]+; .*validation:auc=[\d.]+;", m) for m in messages), messages[-8:]
    assert messages[-1] == "Training Container Execution Completed"
    # Every line reached CloudWatch before the job reported Completed (TrainingEndTime is that moment) ...
    assert max(event["ingestionTime"] for event in events) <= job["TrainingEndTime"].timestamp() * 1000
    # ... so train(logs=True), which reads the log once more when it sees Completed and then stops, printed
    # each line under its stream's name: all of them, once, in order.
    lines = example["stderr"].splitlines()
    streamed = [lines[i + 1] for i, line in enumerate(lines[:-1]) if line == f"{stream}:"]
    assert streamed == messages


def test_get_log_events_pages_forward_to_an_empty_page(example, local_sagemaker):
    logs = local_sagemaker.client("logs")
    stream = log_stream(local_sagemaker, example["training job"])
    everything, _, _ = read_stream(logs, stream)
    paged, pages, token = read_stream(logs, stream, limit=7)
    assert pages == -(-len(everything) // 7) > 1
    assert [e["message"] for e in paged] == [e["message"] for e in everything]
    assert [e["timestamp"] for e in paged] == sorted(e["timestamp"] for e in paged)
    job_log = local_sagemaker.state_dir / "jobs" / REGION / example["training job"] / "training.log"
    assert [e["message"] for e in paged] == [line or " " for line in job_log.read_text().splitlines()]
    again = logs.get_log_events(logGroupName=TRAINING_LOG_GROUP, logStreamName=stream, nextToken=token)
    assert again["events"] == [] and again["nextForwardToken"] == token


def timestamps(shape: Any, value: Any, path: str = "") -> list[tuple[str, Any]]:
    """(path, raw value) of every timestamp member of a raw JSON response, walked along botocore's shape."""
    if shape.type_name == "timestamp":
        return [(path, value)]
    if shape.type_name == "structure":
        return [
            hit
            for name, member in shape.members.items()
            if name in value
            for hit in timestamps(member, value[name], f"{path}.{name}")
        ]
    if shape.type_name == "list":
        return [hit for i, item in enumerate(value) for hit in timestamps(shape.member, item, f"{path}[{i}]")]
    if shape.type_name == "map":
        return [hit for key, item in value.items() for hit in timestamps(shape.value, item, f"{path}.{key}")]
    return []


def test_timestamps_are_epoch_seconds_on_the_wire(example, local_sagemaker):
    sm = local_sagemaker.client("sagemaker")
    raw: dict[str, dict[str, Any]] = {}

    def keep(http_response: Any, model: Any, **_: Any) -> None:
        raw[model.name] = json.loads(http_response.content)

    sm.meta.events.register("after-call.sagemaker", keep)
    parsed = sm.describe_training_job(TrainingJobName=example["training job"])
    sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=example["tuning job"])
    sm.list_training_jobs_for_hyper_parameter_tuning_job(HyperParameterTuningJobName=example["tuning job"])
    sm.list_hyper_parameter_tuning_jobs(NameContains=example["tuning job"])
    sm.list_training_jobs(NameContains=example["training job"])
    found = [
        (f"{operation}{path}", value)
        for operation, body in raw.items()
        for path, value in timestamps(sm.meta.service_model.operation_model(operation).output_shape, body)
    ]
    assert len(found) >= 20, found
    for path, value in found:
        assert isinstance(value, (int, float)) and not isinstance(value, bool), (path, value)
        assert abs(value - time.time()) < 3600, (path, value)
    assert parsed["CreationTime"].tzinfo is not None  # botocore turned them into aware datetimes
    assert parsed["TrainingStartTime"] <= parsed["TrainingEndTime"]


def test_the_sdk_role_check_accepts_the_execution_role_and_refuses_a_missing_one(local_sagemaker, bucket):
    from botocore.exceptions import ClientError
    from sagemaker.core.helper.iam_role_resolver import RoleValidationError, resolve_and_validate_role
    from sagemaker.core.helper.session_helper import Session
    from sagemaker.train import ModelTrainer
    from sagemaker.train.configs import SourceCode

    assert os.environ.get("SAGEMAKER_VALIDATE_ROLE") is None  # the SDK's default: validate
    # What the SDK calls: SimulatePrincipalPolicy for the role's permissions, GetRole for its trust policy.
    assert resolve_and_validate_role(ROLE) == ROLE
    assert resolve_and_validate_role("SageMakerRole") == ROLE  # a name is looked up with GetRole
    iam = local_sagemaker.client("iam")
    role = iam.get_role(RoleName="SageMakerRole")["Role"]
    assert role["Arn"] == ROLE
    trust = role["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"]["Service"] == "sagemaker.amazonaws.com" and trust["Action"] == "sts:AssumeRole"
    simulated = iam.simulate_principal_policy(PolicySourceArn=ROLE, ActionNames=["s3:GetObject", "logs:PutLogEvents"])
    assert [r["EvalDecision"] for r in simulated["EvaluationResults"]] == ["allowed", "allowed"]
    assert shape_errors("SimulatePrincipalPolicy", simulated, "iam") == ""

    missing = "arn:aws:iam::123456789012:role/NoSuchRole"
    with pytest.raises(iam.exceptions.NoSuchEntityException, match="The role with name NoSuchRole cannot be found"):
        iam.simulate_principal_policy(PolicySourceArn=missing, ActionNames=["s3:GetObject"])
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_role(RoleName="NoSuchRole")
    with pytest.raises(ClientError, match="InvalidInput"):
        iam.simulate_principal_policy(
            PolicySourceArn="arn:aws:sts::123456789012:assumed-role/R/s", ActionNames=["s3:*"]
        )
    with pytest.raises(RoleValidationError, match="NoSuchRole' cannot be used"):
        ModelTrainer(
            training_image=XGBOOST_IMAGE,
            source_code=SourceCode(source_dir=str(ROOT / "training_scripts" / "flight_delay"), entry_script="train.py"),
            role=missing,
            sagemaker_session=Session(default_bucket=bucket),
        )
    # The caller STS names (moto's stand-in for any credentials) can be simulated, as an IAM user's own ARN can.
    caller = local_sagemaker.client("sts").get_caller_identity()["Arn"]
    own = iam.simulate_principal_policy(PolicySourceArn=caller, ActionNames=["sagemaker:CreateTrainingJob"])
    assert own["EvaluationResults"][0]["EvalDecision"] == "allowed"
    # A role created in this account is simulated like the built-in one.
    created = iam.create_role(RoleName=unique("created"), AssumeRolePolicyDocument=json.dumps({"Statement": []}))
    again = iam.simulate_principal_policy(PolicySourceArn=created["Role"]["Arn"], ActionNames=["s3:GetObject"])
    assert again["EvaluationResults"][0]["EvalDecision"] == "allowed"


def test_source_code_command_runs_in_the_driver_shell(local_sagemaker, sm, bucket, channels):
    """SourceCode.command runs as sm_train.sh runs it in the container: through the shell (eval)."""
    from sagemaker.core.helper.session_helper import Session
    from sagemaker.train import ModelTrainer
    from sagemaker.train.configs import InputData, SourceCode

    trainer = ModelTrainer(
        training_image=XGBOOST_IMAGE,
        source_code=SourceCode(
            source_dir=str(ROOT / "training_scripts" / "flight_delay"),
            command="python train.py --num_round 2 && echo shell-$((1 + 1))",
        ),
        role=ROLE,
        sagemaker_session=Session(default_bucket=bucket),
        base_job_name="sdk-command",
    )
    trainer.train(input_data_config=[InputData(channel_name="train", data_source=channels["train"])], logs=False)
    name = trainer._latest_training_job.training_job_name
    assert sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] == "Completed"
    events, _, _ = read_stream(local_sagemaker.client("logs"), log_stream(local_sagemaker, name))
    messages = [event["message"] for event in events]
    assert any(message.startswith("[2] train:auc=") for message in messages)
    assert "shell-2" in messages


PROBE = b"""import json, os, sys
print("argv=" + json.dumps(sys.argv[1:]))
print("hps=" + os.environ["SM_HPS"])
print("hp_eta=" + os.environ["SM_HP_ETA"] + " hp_name=" + os.environ["SM_HP_NAME"])
print("last line")
"""


def test_script_mode_decodes_json_encoded_hyperparameters_and_logs_before_completed(
    local_sagemaker, sm, s3, bucket, channels
):
    name = unique("json-hps")
    source = upload_source(s3, bucket, {"probe.py": PROBE}, f"probe/{name}/sourcedir.tar.gz")
    # As the SageMaker Python SDK's estimators send them: every value JSON-encoded.
    encoded = {
        "sagemaker_program": "probe.py",
        "sagemaker_submit_directory": source,
        "num_round": 3,
        "eta": 0.25,
        "early_stop": True,
        "layers": [64, 32],
        "name": "a b",
    }
    hyperparameters = {key: json.dumps(value) for key, value in encoded.items()} | {"booster": "gbtree"}
    sm.create_training_job(**training_request(name, channels, f"s3://{bucket}/out", hyperparameters))
    described = wait_for_job(sm, name)
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    events, _, _ = read_stream(local_sagemaker.client("logs"), log_stream(local_sagemaker, name))
    lines = [event["message"] for event in events]
    assert lines[-1] == "last line"
    assert max(event["ingestionTime"] for event in events) <= described["TrainingEndTime"].timestamp() * 1000
    # SageMaker's training toolkit decodes each value and passes str() of it, sorted by name.
    argv = json.loads(next(line for line in lines if line.startswith("argv="))[5:])
    assert argv == [
        "--booster",
        "gbtree",
        "--early_stop",
        "True",
        "--eta",
        "0.25",
        "--layers",
        "[64, 32]",
        "--name",
        "a b",
        "--num_round",
        "3",
    ]
    hps = json.loads(next(line for line in lines if line.startswith("hps="))[4:])
    assert hps == {
        "booster": "gbtree",
        "early_stop": True,
        "eta": 0.25,
        "layers": [64, 32],
        "name": "a b",
        "num_round": 3,
    }
    assert "hp_eta=0.25 hp_name=a b" in lines


def run_cli(env: dict[str, str], *args: str) -> dict[str, Any]:
    done = subprocess.run([str(AWS_CLI), "sagemaker", *args], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_aws_cli_creates_describes_and_lists_a_tuning_job_from_a_json_file(
    local_sagemaker, sm, s3, bucket, channels, tmp_path
):
    config = json.loads((ASSETS / "cli_tuning_job.json").read_text())
    definition = config["TrainingJobDefinition"]
    assert definition["StaticHyperParameters"]["sagemaker_submit_directory"] == f"s3://{bucket}/cli/sourcedir.tar.gz"
    assert {c["DataSource"]["S3DataSource"]["S3Uri"] for c in definition["InputDataConfig"]} == set(channels.values())
    upload_source(
        s3, bucket, {"train.py": ROOT / "training_scripts" / "flight_delay" / "train.py"}, "cli/sourcedir.tar.gz"
    )
    env = user_environ(local_sagemaker, tmp_path)
    name = unique("cli-create")[:32]

    config_file = f"file://{ASSETS / 'cli_tuning_job.json'}"
    created = run_cli(
        env,
        "create-hyper-parameter-tuning-job",
        "--cli-input-json",
        config_file,
        "--hyper-parameter-tuning-job-name",
        name,
    )
    assert created["HyperParameterTuningJobArn"].endswith(f":hyper-parameter-tuning-job/{name}")
    wait_for_tuning(sm, name)
    described = run_cli(env, "describe-hyper-parameter-tuning-job", "--hyper-parameter-tuning-job-name", name)
    assert described["HyperParameterTuningJobStatus"] == "Completed", described.get("FailureReason")
    # As given, with the default AWS fills in.
    tuning_config = {**config["HyperParameterTuningJobConfig"], "TrainingJobEarlyStoppingType": "Off"}
    assert described["HyperParameterTuningJobConfig"] == tuning_config
    assert described["TrainingJobDefinition"]["StaticHyperParameters"] == definition["StaticHyperParameters"]
    assert described["TrainingJobStatusCounters"]["Completed"] == 2
    assert described["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["MetricName"] == "validation:auc"
    listed = run_cli(env, "list-hyper-parameter-tuning-jobs", "--name-contains", name)
    assert [
        (j["HyperParameterTuningJobName"], j["HyperParameterTuningJobStatus"])
        for j in listed["HyperParameterTuningJobSummaries"]
    ] == [(name, "Completed")]
    trials = run_cli(
        env,
        "list-training-jobs-for-hyper-parameter-tuning-job",
        "--hyper-parameter-tuning-job-name",
        name,
        "--sort-by",
        "FinalObjectiveMetricValue",
        "--sort-order",
        "Descending",
    )
    summaries = trials["TrainingJobSummaries"]
    assert len(summaries) == 2
    assert summaries[0]["TrainingJobName"] == described["BestTrainingJob"]["TrainingJobName"]
    for summary in summaries:
        assert 2 <= int(summary["TunedHyperParameters"]["max_depth"]) <= 6
        assert 0.05 <= float(summary["TunedHyperParameters"]["eta"]) <= 0.5

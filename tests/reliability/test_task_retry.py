"""Task retry: the Airflow process running `tune` is SIGKILLed in the middle of a tuning job, and Airflow's retry
reattaches to that job: exactly one tuning job, no training job created twice, the run succeeds.

A real scheduler and API server (LocalExecutor) run hpo_nightly against the session's local SageMaker, in a
bucket of their own. Two ways to lose the task: the task process alone (the OOM killer's way; its supervisor
reports the failure and Airflow retries after the DAG's retry_delay, 10 s), and the scheduler with its worker and
every task under it (the machine's way; the next scheduler adopts the orphaned task and retries it).
"""

from __future__ import annotations

import datetime
import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from harness.airflow_processes import Airflow, finished_runs, triggered_run
from harness.local_sagemaker import wait_until
from tests.reliability.figures import record

BUCKET = "task-retry-tests"
CONF = {
    "strategy": "Random",
    "max_jobs": 4,
    "max_parallel_jobs": 1,
    "hyperparameters": {"num_round": 60},
    "training_window_days": 5,
    "holdout_date": "2013-01-12",
    "deploy": False,
}


@pytest.fixture(scope="module")
def airflow(airflow_db, s3, tmp_path_factory) -> Iterator[Airflow]:
    from include.pipeline.ingest import land
    from tests.specs import FLIGHT

    land(s3, BUCKET, FLIGHT, datetime.date(2013, 1, 5), datetime.date(2013, 1, 12))
    saved = {k: os.environ.get(k) for k in ("AIRFLOW_VAR_HPO_BUCKET", "AIRFLOW_VAR_HPO_POLL_SECONDS")}
    os.environ.update({"AIRFLOW_VAR_HPO_BUCKET": BUCKET, "AIRFLOW_VAR_HPO_POLL_SECONDS": "1"})
    running = Airflow(tmp_path_factory.mktemp("task-retry"))
    running.start("api-server", "scheduler")
    running.unpause("hpo_nightly")
    yield running
    running.stop()
    for key, value in saved.items():
        os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)


def start_run(airflow: Airflow, sm: Any) -> tuple[Any, str]:
    """Trigger a run and wait until its tuning job has finished a training job and is running the next one."""
    from include.pipeline.naming import job_name_for

    dagrun = triggered_run(run_id=airflow.trigger("hpo_nightly", CONF))
    name = job_name_for("hpo", "hpo_nightly", dagrun.run_id, "tune")

    def children() -> list[dict[str, Any]]:
        if not sm.list_hyper_parameter_tuning_jobs(NameContains=name)["HyperParameterTuningJobSummaries"]:
            return []
        return sm.list_training_jobs_for_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)[
            "TrainingJobSummaries"
        ]

    wait_until(
        children,
        lambda jobs: any(j["TrainingJobStatus"] == "Completed" for j in jobs),
        "a finished job",
        timeout=180,
        interval=1,
    )
    return dagrun, name


def check_reattached(sm: Any, dagrun: Any, name: str) -> int:
    """The run succeeded on a retry of tune, with one tuning job whose training jobs each ran once."""
    [dagrun] = finished_runs("manual", 1, run_id=dagrun.run_id)
    states = {ti.task_id: (ti.state, ti.try_number) for ti in dagrun.get_task_instances()}
    assert dagrun.state == "success", states
    assert states["tune"][0] == "success" and states["tune"][1] >= 2, states
    listed = sm.list_hyper_parameter_tuning_jobs(NameContains=name)["HyperParameterTuningJobSummaries"]
    assert [j["HyperParameterTuningJobName"] for j in listed] == [name]
    assert listed[0]["TrainingJobStatusCounters"]["Completed"] == CONF["max_jobs"]
    jobs = sm.list_training_jobs_for_hyper_parameter_tuning_job(HyperParameterTuningJobName=name, MaxResults=100)
    names = [j["TrainingJobName"] for j in jobs["TrainingJobSummaries"]]
    assert len(names) == len(set(names)) == CONF["max_jobs"]
    return states["tune"][1]


@pytest.mark.timeout(600)
def test_a_killed_tune_task_process_is_retried_and_reattaches(airflow, sm):
    from airflow.models.taskinstance import TaskInstance

    dagrun, name = start_run(airflow, sm)
    ti = TaskInstance.get_task_instance("hpo_nightly", dagrun.run_id, "tune", -1)
    assert ti.state == "running" and ti.pid, (ti.state, ti.pid)
    os.kill(ti.pid, signal.SIGKILL)  # the task process only: its supervisor and the worker live on
    tries = check_reattached(sm, dagrun, name)
    record("faults", "tune task process SIGKILLed mid-tuning: tries, tuning jobs", f"{tries}, 1")


@pytest.mark.timeout(600)
def test_a_tune_task_killed_with_its_scheduler_and_worker_reattaches(airflow, sm):
    dagrun, name = start_run(airflow, sm)
    assert dagrun.logical_date is None  # a manual run without a logical date, Airflow 3's default
    airflow.kill("scheduler")  # the worker and the task die with it; the tuning job goes on in SageMaker
    airflow.start("scheduler")
    tries = check_reattached(sm, dagrun, name)
    record("faults", "scheduler, worker and task SIGKILLed mid-tuning: tries, tuning jobs", f"{tries}, 1")

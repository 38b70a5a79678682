"""The same DAGs on Airflow's CeleryExecutor, across two real workers, with real PostgreSQL and Redis.

One stack for the module (harness/stack.py): PostgreSQL, Redis, the local SageMaker, api-server, scheduler,
dag-processor, triggerer and two Celery workers, each on a free loopback port and stopped by pid at the end.
A small hpo_nightly (6 jobs, 2 at a time, no deployment; 20 one at a time where a process is killed while it
tunes) runs three times:

- with ingest_flights beside it: both succeed, their tasks ran on both workers, one tuning job;
- the worker running `tune` is SIGKILLed mid-tuning: the scheduler notices the missing heartbeats, the retry runs
  on the other worker and reattaches to the same tuning job; every training job ran once;
- `tune` deferred (`[operators] default_deferrable` on the workers): its worker is SIGKILLed, which retries
  nothing since no worker holds a deferred task, then the triggerer is SIGKILLed and started again: the new one
  takes over the wait and the run succeeds on the same try, with one tuning job.

Needs the system's PostgreSQL server and redis-server (`apt-get install -y redis-server postgresql`): skipped
without them, except when `CI` is set, where a missing binary is a failure.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterator
from typing import Any

import pytest

from harness.airflow_processes import non_loopback_listeners
from harness.local_sagemaker import wait_until
from harness.stack import INSTALL_HINT, Stack, missing_binaries

CONF = {
    "strategy": "Random",
    "max_jobs": 6,
    "max_parallel_jobs": 2,
    "hyperparameters": {"num_round": 20},
    "training_window_days": 3,
    "holdout_date": "2013-01-10",
    "deploy": False,
    "smoke_threshold": 0.0,
}
# The two tests that kill a process while `tune` waits need a tuning job that outlasts the kill and the checks after
# it: 20 jobs of 100 rounds, one at a time (6 jobs of 20 rounds end within seconds of the first finished one).
LONG = {**CONF, "max_jobs": 20, "max_parallel_jobs": 1, "hyperparameters": {"num_round": 100}}
INGESTED_DAY = datetime.date(2013, 1, 11)  # ingest_flights' logical date; the nightly runs use the seeded days
DEFERRABLE = {"AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True"}

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    missing = missing_binaries()
    if missing:
        message = f"{' and '.join(missing)} not found (install with `{INSTALL_HINT}`)"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set, so the scale test must run, but {message}", pytrace=False)
        pytest.skip(message)
    running = Stack(tmp_path_factory.mktemp("scale"))
    with running:
        running.seed(datetime.date(2013, 1, 6), datetime.date(2013, 1, 10))
        yield running


def tuning_job_name(run_id: str) -> str:
    from include.pipeline.naming import job_name_for

    return job_name_for("hpo", "hpo_nightly", run_id, "tune")


def tuning_progress(stack: Stack, name: str) -> dict[str, Any] | None:
    """The tuning job's description, or None before it exists."""
    sm = stack.sagemaker.client("sagemaker")
    if not sm.list_hyper_parameter_tuning_jobs(NameContains=name)["HyperParameterTuningJobSummaries"]:
        return None
    return sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)


def assert_succeeded(stack: Stack, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
    state = stack.wait_for_run(dag_id, run_id, timeout=240)
    tis = stack.task_instances(dag_id, run_id)
    assert state == "success", (tis, stack.failed_logs(dag_id, run_id))
    return tis


def assert_one_tuning_job_with_each_training_job_once(stack: Stack, run_id: str, conf: dict[str, Any]) -> None:
    sm = stack.sagemaker.client("sagemaker")
    name = tuning_job_name(run_id)
    listed = sm.list_hyper_parameter_tuning_jobs(NameContains=name, MaxResults=100)["HyperParameterTuningJobSummaries"]
    assert [j["HyperParameterTuningJobName"] for j in listed] == [name]
    assert listed[0]["HyperParameterTuningJobStatus"] == "Completed"
    jobs = sm.list_training_jobs_for_hyper_parameter_tuning_job(HyperParameterTuningJobName=name, MaxResults=100)
    names = [j["TrainingJobName"] for j in jobs["TrainingJobSummaries"]]
    assert len(names) == len(set(names)) == conf["max_jobs"], names


def running_tune(stack: Stack, run_id: str, state: str) -> dict[str, Any]:
    """Wait until `tune` is in `state` on a worker while its tuning job is still in progress."""
    name = tuning_job_name(run_id)

    def now() -> tuple[dict[str, Any], dict[str, Any] | None]:
        return stack.task_instances("hpo_nightly", run_id).get("tune", {}), tuning_progress(stack, name)

    ti, described = wait_until(
        now, lambda found: found[0].get("state") == state and found[1] is not None, f"tune {state}", 180, 0.5
    )
    assert described["HyperParameterTuningJobStatus"] == "InProgress", described["HyperParameterTuningJobStatus"]
    assert ti["hostname"] in stack.worker_names, ti
    return ti


def test_ingest_and_a_nightly_run_succeed_across_both_workers(stack):
    ingest = stack.trigger("ingest_flights", {}, logical_date=INGESTED_DAY)
    nightly = stack.trigger("hpo_nightly", CONF)
    ran = {**assert_succeeded(stack, "ingest_flights", ingest), **assert_succeeded(stack, "hpo_nightly", nightly)}

    assert {ti["hostname"] for ti in ran.values() if ti["state"] == "success"} == set(stack.worker_names), ran
    assert all(ti["try_number"] == 1 for ti in ran.values() if ti["state"] == "success"), ran
    assert_one_tuning_job_with_each_training_job_once(stack, nightly, CONF)
    key = f"raw/flights/date={INGESTED_DAY.isoformat()}/"
    assert stack.sagemaker.client("s3").list_objects_v2(Bucket=stack.bucket, Prefix=key)["KeyCount"] >= 1
    # Every socket the stack listens on is on loopback (Airflow's log servers are off: they bind every interface).
    listening, beyond = non_loopback_listeners({pid for tree in stack.pids().values() for pid in tree})
    assert listening and not beyond, beyond


def test_a_killed_worker_tune_is_retried_on_the_other_worker_and_reattaches(stack):
    run_id = stack.trigger("hpo_nightly", LONG)
    name = tuning_job_name(run_id)
    wait_until(
        lambda: tuning_progress(stack, name),
        lambda d: d is not None and d["TrainingJobStatusCounters"]["Completed"] >= 1,
        "a finished training job",
        180,
        0.5,
    )
    victim = running_tune(stack, run_id, "running")["hostname"]
    stack.airflow.kill(victim)  # the worker, its task supervisor and the task: as when its machine dies
    assert tuning_progress(stack, name)["HyperParameterTuningJobStatus"] == "InProgress"

    tis = assert_succeeded(stack, "hpo_nightly", run_id)
    [survivor] = set(stack.worker_names) - {victim}
    assert tis["tune"]["try_number"] == 2 and tis["tune"]["hostname"] == survivor, tis["tune"]
    assert_one_tuning_job_with_each_training_job_once(stack, run_id, LONG)
    log = stack.task_log("hpo_nightly", run_id, "tune")
    assert f"Reattaching to tuning job {name}" in log and f"Creating tuning job {name}" in log


def trigger_logs(stack: Stack, run_id: str) -> dict[str, str]:
    """The tune task's trigger logs, one per triggerer that ran its trigger (named after the triggerer's job id)."""
    folder = stack.home / "logs" / "dag_id=hpo_nightly" / f"run_id={run_id}" / "task_id=tune"
    return {p.name: p.read_text(errors="replace") for p in folder.glob("attempt=*.log.trigger.*.log")}


def test_a_deferred_tune_survives_its_worker_and_a_triggerer_restart(stack):
    # Workers that defer: restart both with [operators] default_deferrable (the killed one is down already).
    stack.restart_workers(DEFERRABLE)
    run_id = stack.trigger("hpo_nightly", LONG)
    name = tuning_job_name(run_id)
    deferred = running_tune(stack, run_id, "deferred")
    stack.airflow.kill(deferred["hostname"])  # nothing to retry: no worker holds a deferred task

    # Once the triggerer is polling the tuning job, kill it too; a new one must take the wait over.
    [first] = wait_until(
        lambda: trigger_logs(stack, run_id),
        lambda logs: "not done yet" in "".join(logs.values()),
        "the triggerer polling the tuning job",
        120,
        0.5,
    )
    stack.airflow.kill("triggerer")
    assert tuning_progress(stack, name)["HyperParameterTuningJobStatus"] == "InProgress"
    stack.airflow.restart("triggerer")

    tis = assert_succeeded(stack, "hpo_nightly", run_id)
    assert tis["tune"]["try_number"] == deferred["try_number"], (deferred, tis["tune"])
    [survivor] = set(stack.worker_names) - {deferred["hostname"]}
    assert tis["tune"]["hostname"] == survivor, tis["tune"]  # execute_complete ran where a worker was left
    assert_one_tuning_job_with_each_training_job_once(stack, run_id, LONG)
    logs = trigger_logs(stack, run_id)
    assert "Trigger fired event" not in logs[first]
    [second] = set(logs) - {first}
    assert "Trigger fired event" in logs[second], logs[second][-3000:]

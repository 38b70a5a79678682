"""The reattaching tuning operator with deferrable=True, against the local SageMaker.

`execute` creates (or reattaches to) the tuning job, looks for its first training job (deferring a few seconds
at a time while there is none, so no worker is held), and defers to the provider's SageMakerTrigger, sized for as
long as the job can run; the trigger is then run as the triggerer runs it (rebuilt from its serialized form, its async
generator driven by asyncio) and its event handed to `execute_complete`, which trusts the job's own status only.
The trigger reaches the local SageMaker through the `aws_default` connection's endpoint_url alone.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from harness.local_sagemaker import ASSETS, REGION, upload_source, wait_for_tuning, wait_until
from tests.tuning_helpers import CHECK_INTERVAL, curve_definition, deferrable_operator, new_name, tuning_request

TRIGGER_PATH = "airflow.providers.amazon.aws.triggers.sagemaker.SageMakerTrigger"
# The provider's async hook needs aiobotocore (the provider's `aiobotocore` extra). Without it the triggerer
# cannot run SageMakerTrigger at all, so the tests that run the trigger say so instead of failing obscurely.
NEEDS_AIOBOTOCORE = "aiobotocore is not installed: the triggerer cannot run SageMakerTrigger (provider extra)"


@pytest.fixture(scope="module")
def curve(s3, bucket, channels) -> dict[str, Any]:
    code = upload_source(s3, bucket, {"curve.py": ASSETS / "curve.py"}, "code/deferrable-curve/sourcedir.tar.gz")
    # 3 epochs of 0.1 s: each training job is over in well under a second of script time.
    return curve_definition(code, channels["train"], f"s3://{bucket}/deferrable", {"epochs": "3"})


def resume(operator: Any, deferred: Any) -> Any:
    """What the triggerer and a worker do with a TimeDeltaTrigger's deferral: wait, then call its method."""
    from airflow.sdk.exceptions import TaskDeferred

    moment = deferred.trigger.serialize()[1]["moment"]
    time.sleep(max(0.0, moment.timestamp() - time.time()))
    with pytest.raises(TaskDeferred) as again:
        getattr(operator, deferred.method_name)({}, event=None, **(deferred.kwargs or {}))
    return again.value


def defer(config: dict[str, Any]) -> Any:
    """Run execute() (and the short waits for the first training job) up to the TaskDeferred that hands the
    tuning job to the SageMakerTrigger; with the operator that raised it."""
    from airflow.providers.standard.triggers.temporal import DateTimeTrigger
    from airflow.sdk.exceptions import TaskDeferred

    operator = deferrable_operator(config)
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute({})
    found = deferred.value
    while isinstance(found.trigger, DateTimeTrigger):
        found = resume(operator, found)
    return operator, found


def same_named(sm: Any, name: str) -> list[str]:
    jobs = sm.list_hyper_parameter_tuning_jobs(NameContains=name, MaxResults=100)["HyperParameterTuningJobSummaries"]
    return [j["HyperParameterTuningJobName"] for j in jobs]


def run_trigger(trigger: Any, timeout: float = 180) -> dict[str, Any]:
    """Rebuild the trigger from what the triggerer stores, run it to its first event and return the payload."""
    from airflow.providers.amazon.aws.triggers.sagemaker import SageMakerTrigger

    path, kwargs = trigger.serialize()
    assert path == TRIGGER_PATH
    rebuilt = SageMakerTrigger(**kwargs)

    async def first_event() -> Any:
        async for event in rebuilt.run():
            return event
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(asyncio.wait_for(first_event(), timeout)).payload


@pytest.fixture(scope="module")
def deferred_job(curve) -> dict[str, Any]:
    """One tuning job of 3 training jobs, 2 at a time, created by a deferring execute()."""
    name = new_name()
    config = tuning_request(name, curve, "Random", max_jobs=3, parallel=2)
    operator, deferred = defer(config)
    return {"name": name, "config": config, "operator": operator, "deferred": deferred}


def test_execute_creates_the_job_and_defers_with_a_trigger_sized_for_it(sm, deferred_job):
    from airflow.providers.amazon.aws.triggers.sagemaker import SageMakerTrigger
    from hpo_sagemaker.operators.tuning import waiter_max_attempts

    name, deferred = deferred_job["name"], deferred_job["deferred"]
    assert deferred.method_name == "execute_complete"
    assert isinstance(deferred.trigger, SageMakerTrigger)
    path, kwargs = deferred.trigger.serialize()  # what the triggerer gets
    attempts = waiter_max_attempts(deferred_job["config"], CHECK_INTERVAL)
    assert attempts != 480  # not the trigger's default of 4 hours at 30 s
    assert kwargs == {
        "job_name": name,
        "job_type": "tuning",
        "waiter_delay": CHECK_INTERVAL,
        "waiter_max_attempts": attempts,
        "aws_conn_id": "aws_default",
        "region_name": REGION,
    }
    described = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    assert described["HyperParameterTuningJobStatus"] in {"InProgress", "Completed"}
    assert same_named(sm, name) == [name]


def test_the_trigger_waits_through_the_connection_and_execute_complete_summarizes(sm, deferred_job):
    pytest.importorskip("aiobotocore", reason=NEEDS_AIOBOTOCORE)
    name = deferred_job["name"]
    event = run_trigger(deferred_job["deferred"].trigger)
    assert event == {"status": "success", "job_name": name}
    summary = deferred_job["operator"].execute_complete({}, event)
    described = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    assert summary["status"] == "Completed" and summary["tuning_job_name"] == name
    assert summary["best_training_job"] == described["BestTrainingJob"]["TrainingJobName"]
    assert summary["best_model_artifact"].endswith(f"{summary['best_training_job']}/output/model.tar.gz")
    assert summary["training_job_counters"]["Completed"] == 3
    assert summary["report_uri"] is None


def test_a_retry_of_a_tuning_job_that_ended_returns_its_result_without_deferring(sm, deferred_job, capfd):
    name = deferred_job["name"]
    assert wait_for_tuning(sm, name)["HyperParameterTuningJobStatus"] == "Completed"
    summary = deferrable_operator(deferred_job["config"]).execute({})  # raises no TaskDeferred
    assert summary["status"] == "Completed" and summary["tuning_job_name"] == name
    assert summary["training_job_counters"]["Completed"] == 3
    assert same_named(sm, name) == [name]  # no second job
    assert f"Reattaching to tuning job {name} (Completed)" in capfd.readouterr().out


def test_a_retry_while_it_runs_reattaches_and_defers_again(sm, curve, capfd):
    from airflow.providers.amazon.aws.triggers.sagemaker import SageMakerTrigger

    name = new_name()
    long = {**curve, "StaticHyperParameters": {**curve["StaticHyperParameters"], "epochs": "300"}}
    config = tuning_request(name, long, "Random", max_jobs=2, parallel=2)
    _, first = defer(config)
    try:
        _, again = defer(config)  # the same task run again: same name, same config
        assert isinstance(again.trigger, SageMakerTrigger) and again.method_name == "execute_complete"
        assert again.trigger.serialize() == first.trigger.serialize()
        assert same_named(sm, name) == [name]  # no second job
        assert f"Reattaching to tuning job {name} (InProgress)" in capfd.readouterr().out
    finally:
        sm.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)


@pytest.fixture(scope="module")
def stopped_job(sm, curve) -> dict[str, Any]:
    """A tuning job stopped while its first training jobs run (300 epochs would take 30 s each)."""
    name = new_name()
    long = {**curve, "StaticHyperParameters": {**curve["StaticHyperParameters"], "epochs": "300"}}
    config = tuning_request(name, long, "Random", max_jobs=2, parallel=2)
    sm.create_hyper_parameter_tuning_job(**config)
    wait_until(
        lambda: sm.list_training_jobs_for_hyper_parameter_tuning_job(HyperParameterTuningJobName=name),
        lambda listed: bool(listed["TrainingJobSummaries"]),
        f"a training job of {name}",
        timeout=60,
    )
    sm.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    assert wait_for_tuning(sm, name, timeout=60)["HyperParameterTuningJobStatus"] == "Stopped"
    return {"name": name, "config": config}


def test_execute_complete_does_not_trust_a_success_event_for_a_stopped_job(stopped_job):
    from hpo_sagemaker.operators.tuning import TuningJobError

    name = stopped_job["name"]
    operator = deferrable_operator(stopped_job["config"])
    with pytest.raises(TuningJobError, match=f"Tuning job {name} ended Stopped"):
        operator.execute_complete({}, {"status": "success", "job_name": name})


def test_the_trigger_reports_a_stopped_job_and_execute_complete_fails(stopped_job):
    pytest.importorskip("aiobotocore", reason=NEEDS_AIOBOTOCORE)
    from airflow.providers.amazon.aws.triggers.sagemaker import SageMakerTrigger
    from hpo_sagemaker.operators.tuning import TuningJobError

    name = stopped_job["name"]
    trigger = SageMakerTrigger(
        job_name=name, job_type="tuning", waiter_delay=CHECK_INTERVAL, waiter_max_attempts=5, region_name=REGION
    )
    event = run_trigger(trigger, timeout=60)
    assert event["status"] == "stopped" and event["job_name"] == name
    with pytest.raises(TuningJobError, match=f"Tuning job {name} ended Stopped"):
        deferrable_operator(stopped_job["config"]).execute_complete({}, event)

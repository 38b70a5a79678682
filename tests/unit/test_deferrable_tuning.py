"""The deferrable tuning operator's wait for the first training job: it defers, it does not poll in the worker."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from harness.local_sagemaker import REGION
from tests.tuning_helpers import CHECK_INTERVAL, curve_definition, deferrable_operator, new_name, tuning_request


class NoChildYet:
    """A tuning job that has not launched a training job yet, as the hook would see it."""

    conn_region_name = REGION

    def __init__(self) -> None:
        self.child: dict[str, Any] | None = None

    def first_training_job(self, name: str) -> dict[str, Any] | None:
        return self.child

    def describe_tuning_job(self, name: str) -> dict[str, Any]:
        return {"HyperParameterTuningJobName": name, "HyperParameterTuningJobStatus": "InProgress"}


def test_waiting_for_the_first_training_job_defers_instead_of_holding_the_worker():
    from airflow.providers.amazon.aws.triggers.sagemaker import SageMakerTrigger
    from airflow.providers.standard.triggers.temporal import DateTimeTrigger
    from airflow.sdk.exceptions import TaskDeferred

    definition = curve_definition("s3://b/code/sourcedir.tar.gz", "s3://b/train/", "s3://b/out")
    config = tuning_request(new_name(), definition, "Random", max_jobs=3, parallel=2)
    operator = deferrable_operator(config)
    operator.hook = hook = NoChildYet()  # cached_property: an instance attribute takes its place
    deadline = time.time() + 300
    started = time.monotonic()
    with pytest.raises(TaskDeferred) as waiting:
        operator.resume_child_check({}, deadline=deadline)
    assert time.monotonic() - started < 1  # no polling in the worker
    assert isinstance(waiting.value.trigger, DateTimeTrigger)  # TimeDeltaTrigger is one
    assert waiting.value.method_name == "resume_child_check" and waiting.value.kwargs == {"deadline": deadline}
    moment = waiting.value.trigger.serialize()[1]["moment"]
    assert 0 < moment.timestamp() - time.time() <= CHECK_INTERVAL  # looks again within the check interval

    # The first training job appears, without the spot settings its definition asked for: the check still runs.
    spot = {**config["TrainingJobDefinition"], "EnableManagedSpotTraining": True}
    operator.config = {**config, "TrainingJobDefinition": spot}
    hook.child = {
        "TrainingJobName": f"{config['HyperParameterTuningJobName']}-001-0",
        "EnableManagedSpotTraining": False,
    }
    hook.stop_tuning_job = lambda name: None
    from hpo_sagemaker.operators.tuning import TuningJobError

    with pytest.raises(TuningJobError, match="does not carry the settings it was given"):
        operator.resume_child_check({}, deadline=deadline)

    # Past the deadline with no training job: it goes on to wait for the tuning job, and says why it checked nothing.
    hook.child = None
    operator.config = config
    with pytest.raises(TaskDeferred) as done:
        operator.resume_child_check({}, deadline=time.time() - 1)
    assert isinstance(done.value.trigger, SageMakerTrigger) and done.value.method_name == "execute_complete"


def test_a_resumed_check_with_a_templated_interval_defers_again():
    """The nightly chain passes check_interval as a template ("{{ var.value.get('hpo_poll_seconds', 10) }}"), and a
    task resumed from deferral is rendered afresh, so resume_child_check gets it as text, not the int execute made
    of it. Still no training job: it must defer again, not fail comparing text with a number."""
    from airflow.providers.standard.triggers.temporal import DateTimeTrigger
    from airflow.sdk.exceptions import TaskDeferred

    definition = curve_definition("s3://b/code/sourcedir.tar.gz", "s3://b/train/", "s3://b/out")
    operator = deferrable_operator(tuning_request(new_name(), definition, "Random", max_jobs=3, parallel=2))
    operator.check_interval = "2"  # as rendered
    operator.hook = NoChildYet()
    with pytest.raises(TaskDeferred) as waiting:
        operator.resume_child_check({}, deadline=time.time() + 300)
    assert isinstance(waiting.value.trigger, DateTimeTrigger)
    assert 0 < waiting.value.trigger.serialize()[1]["moment"].timestamp() - time.time() <= 2


def test_on_kill_warns_when_a_stop_fails_and_says_why_not_when_the_job_had_ended():
    """on_kill must not raise, but a stop refused for any reason other than "already ended" (throttled, access
    denied) leaves a job that may still be billing: that is a warning, not the info line of a finished job. The
    hook's real client answers from botocore's Stubber (no server)."""
    import logging

    from botocore.exceptions import ClientError
    from botocore.stub import Stubber
    from hpo_sagemaker.hooks import TuningHook

    definition = curve_definition("s3://b/code/sourcedir.tar.gz", "s3://b/train/", "s3://b/out")
    name = new_name()
    operator = deferrable_operator(tuning_request(name, definition, "Random", max_jobs=3, parallel=2))
    operator.hook = hook = TuningHook(aws_conn_id=None, region_name=REGION)
    operator._created = name
    # The operator's log into a list: Airflow's logging setup (configured by whichever test ran first in this worker)
    # decides what caplog sees, a handler of our own does not depend on it.
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = records.append  # type: ignore[method-assign]
    log = operator._cached_logger = logging.getLogger(f"tests.on_kill.{name}")
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    log.propagate = False
    request = {"HyperParameterTuningJobName": name}
    with Stubber(hook.conn) as stub:
        stub.add_client_error("stop_hyper_parameter_tuning_job", "ThrottlingException", "Rate exceeded", 400, request)
        operator.on_kill()
        [throttled] = [r for r in records if name in r.getMessage()]
        assert throttled.levelno == logging.WARNING and "may still be running" in throttled.getMessage()
        assert "ThrottlingException" in throttled.getMessage()

        records.clear()
        ended = "The request was rejected because the tuning job is in status Completed."
        stub.add_client_error("stop_hyper_parameter_tuning_job", "ValidationException", ended, 400, request)
        operator.on_kill()
        [info] = [r for r in records if name in r.getMessage()]
        assert info.levelno == logging.INFO and ended in info.getMessage()

        stub.add_client_error("stop_hyper_parameter_tuning_job", "AccessDeniedException", "no", 400, request)
        with pytest.raises(ClientError, match="AccessDenied"):
            hook.stop_tuning_job(name)  # the hook raises what is not "already ended"
        stub.assert_no_pending_responses()

    # The service unreachable (botocore's EndpointConnectionError, not a ClientError): the same warning.
    import boto3
    from botocore.config import Config

    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    hook.__dict__["conn"] = boto3.client(
        "sagemaker",
        region_name=REGION,
        endpoint_url=f"http://127.0.0.1:{closed}",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - no service answers
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )
    records.clear()
    operator.on_kill()
    [unreachable] = [r for r in records if name in r.getMessage()]
    assert unreachable.levelno == logging.WARNING and "may still be running" in unreachable.getMessage()
    assert "Could not connect" in unreachable.getMessage()

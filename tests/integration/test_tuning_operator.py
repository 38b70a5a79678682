"""The reattaching tuning operator against the local SageMaker: retries and clears never pay twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest

from harness.local_sagemaker import ASSETS, ROLE, ROOT, upload_source, wait_until
from include.pipeline.naming import job_name_for
from tests.tuning_helpers import curve_definition, deferrable_operator, tuning_request


@pytest.fixture(scope="module")
def curve(s3, bucket, channels) -> dict[str, Any]:
    code = upload_source(s3, bucket, {"curve.py": ASSETS / "curve.py"}, "code/operator-curve/sourcedir.tar.gz")
    return curve_definition(code, channels["train"], f"s3://{bucket}/operator")


def operator_for(config: dict[str, Any]):
    from hpo_sagemaker.operators import ReattachingTuningOperator

    return ReattachingTuningOperator(task_id="tune", config=config, check_interval=1)


def same_named(sm: Any, name: str) -> list[str]:
    jobs = sm.list_hyper_parameter_tuning_jobs(NameContains=name, MaxResults=100)["HyperParameterTuningJobSummaries"]
    return [j["HyperParameterTuningJobName"] for j in jobs if j["HyperParameterTuningJobName"] == name]


def test_a_retry_reattaches_instead_of_creating_a_second_job(sm, curve, capfd):
    name = job_name_for("hpo", "hpo_nightly", f"manual__{time.time_ns()}", "tune")
    config = tuning_request(name, curve, "Random", max_jobs=3, parallel=2)
    first = operator_for(json.loads(json.dumps(config))).execute({})
    assert first["status"] == "Completed" and first["tuning_job_name"] == name
    assert first["best_model_artifact"].endswith(f"{first['best_training_job']}/output/model.tar.gz")
    assert first["objective_metric"] == "objective" and 0 < first["objective_value"] <= 1
    assert f"{name}: 3/3 jobs done, 0 running, best objective=" in capfd.readouterr().out
    again = operator_for(json.loads(json.dumps(config))).execute({})  # a retry of the same task
    assert again == first
    assert same_named(sm, name) == [name]
    assert f"Reattaching to tuning job {name} (Completed)" in capfd.readouterr().out


def test_the_same_name_with_another_config_fails_clearly(curve):
    from hpo_sagemaker.operators.tuning import TuningJobError

    name = job_name_for("hpo", "hpo_nightly", f"manual__{time.time_ns()}", "tune")
    operator_for(tuning_request(name, curve, "Random", max_jobs=1, parallel=1)).execute({})
    with pytest.raises(TuningJobError, match=f"{name} exists with a different configuration"):
        operator_for(tuning_request(name, curve, "Random", max_jobs=2, parallel=1)).execute({})


def test_a_role_name_is_expanded_to_its_arn(local_sagemaker, curve):
    name = job_name_for("hpo", "hpo_nightly", f"manual__{time.time_ns()}", "tune")
    operator = operator_for(tuning_request(name, {**curve, "RoleArn": "SageMakerRole"}, max_jobs=1, parallel=1))
    operator.preprocess_config()  # GetRole, through the connection's endpoint
    assert operator.config["TrainingJobDefinition"]["RoleArn"] == ROLE


def test_a_failed_tuning_job_fails_the_task_with_its_reason(curve):
    from hpo_sagemaker.operators.tuning import TuningJobError

    name = job_name_for("hpo", "hpo_nightly", f"manual__{time.time_ns()}", "tune")
    definition = {**curve, "StaticHyperParameters": {**curve["StaticHyperParameters"], "fail_below": "2"}}
    config = tuning_request(name, definition, "Random", max_jobs=4, parallel=2)
    with pytest.raises(TuningJobError, match="ended Failed: the first 3 training jobs failed"):
        operator_for(json.loads(json.dumps(config))).execute({})
    # A deferrable retry fails the same way at once: no TaskDeferred for a job that has ended.
    with pytest.raises(TuningJobError, match="ended Failed: the first 3 training jobs failed"):
        deferrable_operator(config).execute({})


def test_a_killed_task_run_again_reuses_its_tuning_job_and_on_kill_stops_it(sm, curve, local_sagemaker):
    name = job_name_for("hpo", "hpo_nightly", f"manual__{time.time_ns()}", "tune")
    definition = {**curve, "StaticHyperParameters": {**curve["StaticHyperParameters"], "epochs": "15"}}
    config = tuning_request(name, definition, "Random", max_jobs=4, parallel=1)
    script = textwrap.dedent(
        f"""
        import json, sys
        sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / "plugins")!r}]
        from hpo_sagemaker.operators import ReattachingTuningOperator
        ReattachingTuningOperator(task_id="tune", config=json.loads(sys.argv[1]), check_interval=1).execute({{}})
        """
    )
    worker = subprocess.Popen([sys.executable, "-c", script, json.dumps(config)], env=dict(os.environ), cwd=ROOT)
    try:
        wait_until(
            lambda: (
                sm.list_training_jobs_for_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
                if same_named(sm, name)
                else {"TrainingJobSummaries": []}
            ),
            lambda listed: any(j["TrainingJobStatus"] == "Completed" for j in listed["TrainingJobSummaries"]),
            "a first finished training job",
            timeout=60,
        )
    finally:
        worker.send_signal(signal.SIGKILL)  # the worker dies; the tuning job goes on in the service
        worker.wait()
    second = operator_for(json.loads(json.dumps(config)))
    summary = second.execute({})
    assert summary["status"] == "Completed"
    assert same_named(sm, name) == [name]
    assert summary["training_job_counters"]["Completed"] == 4

    # on_kill of a running task stops its tuning job (the provider's operator does nothing).
    other = job_name_for("hpo", "hpo_nightly", f"manual__{time.time_ns()}", "tune")
    long = {**curve, "StaticHyperParameters": {**curve["StaticHyperParameters"], "epochs": "300"}}
    operator = operator_for(tuning_request(other, long, "Random", max_jobs=2, parallel=1))
    operator._created = other
    sm.create_hyper_parameter_tuning_job(**tuning_request(other, long, "Random", max_jobs=2, parallel=1))
    operator.on_kill()
    from harness.local_sagemaker import wait_for_tuning

    assert wait_for_tuning(sm, other)["HyperParameterTuningJobStatus"] == "Stopped"

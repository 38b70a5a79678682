"""The tuning job's decisions in-process: the backend and scheduler over simulated jobs (tests/fake_launcher.py).

What the HTTP tests in test_tuning.py show with real training, these show in milliseconds and exactly: budgets,
parallelism, early stopping, completion criteria, fail-fast and a restart, all through the one TuningLoop.
"""

from __future__ import annotations

import pytest

from include.local_sagemaker.models.tuning import Trial, TrialState, TuningJob
from include.local_sagemaker.tuning_loop import TuningLoop
from tests.fake_launcher import REGION, fake_backend, run_tuning, tuning_request


def rising_to_x(hyperparameters: dict[str, str]) -> list[float | None]:
    """Five rounds climbing to x: the higher x, the better the job at every round."""
    x = float(hyperparameters["x"])
    return [x * (step / 5) for step in range(1, 6)]


def jobs_of(backend, name: str) -> list:
    return [j for j in backend.training_jobs.values() if j.tuning_job_arn and j.tuning_job_arn.endswith(name)]


def test_a_tuning_job_runs_its_budget_two_at_a_time_and_names_the_best(tmp_path):
    backend, launcher = fake_backend(tmp_path, rising_to_x)
    backend.create_hyper_parameter_tuning_job(tuning_request("budget", max_jobs=6, parallel=2))
    scheduler, most = launcher.schedulers["budget"], 0
    while not scheduler.step():
        most = max(most, sum(1 for j in backend.training_jobs.values() if j.status == "InProgress"))
        launcher.tick()
    described = backend.describe_hyper_parameter_tuning_job({"HyperParameterTuningJobName": "budget"})

    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["TrainingJobStatusCounters"]["Completed"] == 6
    assert len(set(launcher.started)) == len(launcher.started) == 6
    assert most == 2
    finals = {j.name: j.metrics["objective"][-1][1] for j in backend.training_jobs.values()}
    best = described["BestTrainingJob"]
    assert best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == max(finals.values())
    assert finals[best["TrainingJobName"]] == max(finals.values())


def test_the_median_rule_stops_jobs_that_trail_and_lets_the_best_finish(tmp_path):
    backend, launcher = fake_backend(tmp_path, rising_to_x)
    request = tuning_request("median", max_jobs=12, parallel=3, TrainingJobEarlyStoppingType="Auto")
    backend.create_hyper_parameter_tuning_job(request)
    described = run_tuning(backend, launcher, "median")

    jobs = backend.training_jobs.values()
    stopped = [j for j in jobs if j.status == "Stopped"]
    assert stopped, "no job was stopped early"
    assert all(len(j.metrics["objective"]) < 5 for j in stopped)  # stopped before their last round
    assert backend.training_jobs[described["BestTrainingJob"]["TrainingJobName"]].status == "Completed"
    assert described["HyperParameterTuningJobStatus"] == "Completed"


def test_three_failed_jobs_first_fail_the_tuning_job_with_the_last_ones_reason(tmp_path):
    backend, launcher = fake_backend(tmp_path, lambda h: [None])
    backend.create_hyper_parameter_tuning_job(tuning_request("doomed", max_jobs=20, parallel=2))
    described = run_tuning(backend, launcher, "doomed")

    assert described["HyperParameterTuningJobStatus"] == "Failed"
    assert described["FailureReason"] == ("the first 3 training jobs failed; the last one: AlgorithmError: diverged")
    assert len(launcher.started) <= 4  # it stopped spending once three had failed


def test_a_reached_target_completes_the_tuning_job_before_its_budget(tmp_path):
    backend, launcher = fake_backend(tmp_path, rising_to_x)
    request = tuning_request(
        "target", max_jobs=50, parallel=1, TuningJobCompletionCriteria={"TargetObjectiveMetricValue": 0.7}
    )
    backend.create_hyper_parameter_tuning_job(request)
    described = run_tuning(backend, launcher, "target")

    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] >= 0.7
    assert len(launcher.started) < 50


def test_a_stop_request_ends_the_tuning_job_stopped_and_stops_its_jobs(tmp_path):
    backend, launcher = fake_backend(tmp_path, rising_to_x)
    backend.create_hyper_parameter_tuning_job(tuning_request("halted", max_jobs=10, parallel=2))
    scheduler = launcher.schedulers["halted"]
    scheduler.step()
    launcher.tick()
    backend.stop_hyper_parameter_tuning_job({"HyperParameterTuningJobName": "halted"})
    described = run_tuning(backend, launcher, "halted")

    assert described["HyperParameterTuningJobStatus"] == "Stopped"
    assert len(launcher.started) == 2  # nothing launched after the stop
    assert {j.status for j in backend.training_jobs.values()} == {"Stopped"}


def test_a_restarted_scheduler_carries_on_where_it_was_without_repeating_a_job(tmp_path):
    """The same tuning job, run through and interrupted halfway: the same jobs, each launched once. (The jobs
    asked after the restart are new draws: replaying trials does not advance the Random sampler's generator.)"""
    backend, launcher = fake_backend(tmp_path / "through", rising_to_x)
    backend.create_hyper_parameter_tuning_job(tuning_request("again", max_jobs=8, parallel=2))
    run_tuning(backend, launcher, "again")
    through = {j.name: j.spec["HyperParameters"]["x"] for j in backend.training_jobs.values()}

    first, launcher = fake_backend(tmp_path / "cut", rising_to_x)
    first.create_hyper_parameter_tuning_job(tuning_request("again", max_jobs=8, parallel=2))
    for _ in range(12):
        launcher.schedulers["again"].step()
        launcher.tick()
    before = list(launcher.started)
    # A new service on the same store: the resources come back, the running jobs resume.
    second, relaunched = fake_backend(tmp_path / "cut", rising_to_x)
    for kind in ("training-job", "tuning-job"):
        for _region, name, body in first.store.load(kind):
            second.restore(kind, name, body)
    for job in second.training_jobs.values():
        if not job.terminal:
            relaunched.start_training(second, job)
    relaunched.start_tuning(second, second.tuning_jobs["again"])
    described = run_tuning(second, relaunched, "again")

    assert described["HyperParameterTuningJobStatus"] == "Completed"
    after = [name for name in relaunched.started if name not in before]
    assert not set(after) & set(before), "a job was launched twice"
    resumed = {j.name: j.spec["HyperParameters"]["x"] for j in second.training_jobs.values()}
    assert resumed.keys() == through.keys()  # the budget, each job once, under the names AWS would give them
    assert all(resumed[name] == through[name] for name in before)  # what ran before the restart is kept


def test_grid_ends_when_its_grid_is_done_without_a_job_count():
    ranges = {"CategoricalParameterRanges": [{"Name": "depth", "Values": ["2", "4", "6"]}]}
    request = tuning_request("grid", strategy="Grid", ParameterRanges=ranges)
    del request["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"]
    loop = TuningLoop(TuningJob(REGION, request))

    launched = []
    while loop.free_slots():
        for definition, suggestion in loop.ask(loop.free_slots()):
            launched.append(loop.add(definition, suggestion))
        for trial in loop.running():
            loop.observe(trial, [0.5])
            loop.finish(trial, 0.5)
    assert sorted(t.hyperparameters["depth"] for t in launched) == ["2", "4", "6"]
    completion = loop.completion()
    assert completion is not None and completion.status == "Completed"


@pytest.mark.parametrize(
    "record",
    [
        # as the service stored trials before they were a type: no curve, error or early_stopped yet
        {"trial": 0, "job": "j-001-0", "hyperparameters": {"x": "0.5"}, "state": "finished", "objective": 0.5},
        {"trial": 1, "job": "j-002-0", "hyperparameters": {}, "state": "running", "definition": "a", "curve": [0.1]},
    ],
)
def test_stored_trials_load_as_trials_and_store_the_same(record):
    trial = Trial.from_record(record)
    assert trial.state is TrialState(record["state"])
    assert trial.finished == (record["state"] == "finished")
    assert Trial.from_record(trial.record()) == trial
    assert {k: v for k, v in trial.record().items() if k in record} == record


def test_only_an_evaluated_trial_has_a_value():
    done = Trial(trial=0, job="j-001-0", hyperparameters={}, state=TrialState.FINISHED, objective=0.0)
    assert done.evaluated and done.value == 0.0  # a zero objective is a value
    failed = Trial(trial=1, job="j-002-0", hyperparameters={}, state=TrialState.FINISHED)
    running = Trial(trial=2, job="j-003-0", hyperparameters={})
    for trial in (failed, running):
        assert not trial.evaluated
        with pytest.raises(ValueError, match=trial.job):
            _ = trial.value


def test_a_jobs_metric_curve_is_stored_to_the_microsecond_and_held_in_16_bytes_a_value(tmp_path):
    """Every training job the service ever ran stays in memory with its curves (early stopping, Debugger rules after a
    restart and FinalMetricDataList read them), so a value must cost bytes, not a list of a datetime and a float
    (~150 bytes: over a year of nightly tuning, tens of MiB)."""
    import datetime
    import tracemalloc

    from include.local_sagemaker.models.store import StateStore
    from include.local_sagemaker.models.training import MetricSeries, TrainingJob

    backend, launcher = fake_backend(tmp_path, rising_to_x)
    backend.create_hyper_parameter_tuning_job(tuning_request("curve", max_jobs=1, parallel=1))
    run_tuning(backend, launcher, "curve")
    [job] = jobs_of(backend, "curve")
    odd = datetime.datetime(2026, 12, 6, 7, 1, 2, 999_999, tzinfo=datetime.UTC)
    job.record_metric("objective", 0.123456789, odd)
    store = StateStore(tmp_path / "again.sqlite3")
    store.put(REGION, "training-job", job.name, job.record())
    [(_, _, body)] = store.load("training-job")
    restored = TrainingJob.from_record(REGION, body)
    assert list(restored.metrics["objective"]) == list(job.metrics["objective"])
    assert restored.metrics["objective"][-1] == (odd, 0.123456789)
    assert restored.describe()["FinalMetricDataList"] == job.describe()["FinalMetricDataList"]

    tracemalloc.start()
    series = MetricSeries()
    for step in range(10_000):
        series.append(odd + datetime.timedelta(seconds=step), step / 7)
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert held < 10_000 * 20, f"{held / 10_000:.0f} bytes a value"
    assert series[-1] == (odd + datetime.timedelta(seconds=9_999), 9_999 / 7)

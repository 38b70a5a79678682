"""`make demo` end to end against the session's local SageMaker: seed, `airflow dags test hpo_nightly`, report."""

from __future__ import annotations

import re


def test_the_demo_runs_hpo_nightly_and_shows_tuning_evaluation_and_predictions(local_sagemaker, sm, capsys, tmp_path):
    from include import demo

    # Fewer, shorter jobs than `make demo` (20 jobs of 100 rounds): the suite must stay quick.
    small = {"max_jobs": 2, "hyperparameters": {"num_round": 15}, "training_window_days": 7}
    assert demo.main(conf=small, home=tmp_path / "airflow") == 0
    out = capsys.readouterr().out
    assert "1. seeded 59 days of flights" in out
    match = re.search(r"3\. tuning job (hpo-[0-9a-f]{12}): Completed, (\d) completed", out)
    assert match and int(match.group(2)) >= 1
    assert re.search(r"best hpo-[0-9a-f]{12}-\d{3}-[0-9a-f]+: validation:auc=0\.\d{4} \(", out)
    assert re.search(r"4\. held out 2013-02-27 \(\d+ flights\): ", out)
    # The report is written after the smoke test, so it states the deployment.
    assert re.search(r"report says: Deployed: the challenger hpo-\S+ now serves on flight-delay\.", out)
    assert "history of flight_delay: s3://hpo-demo/reports/_history/flight_delay/index.html" in out
    assert re.search(r"5\. endpoint flight-delay \(InService, hpo-config-[0-9a-f]{12}\)", out)
    rows = re.findall(r"^\s+\S+\s+[A-Z]{3}-[A-Z]{3}\s+\d\d:\d\d\s+([01]\.\d{3})\s+(delayed|on time)$", out, re.M)
    assert len(rows) == 5
    assert (
        sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=match.group(1))[
            "HyperParameterTuningJobConfig"
        ]["ResourceLimits"]["MaxNumberOfTrainingJobs"]
        == 2
    )

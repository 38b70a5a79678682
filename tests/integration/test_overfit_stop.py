"""The stop_on_overfit task against the real local SageMaker: the watch_overfit sensor reads running training jobs'
logs from CloudWatch Logs and stops the one that overfits, through the same calls it makes on AWS."""

from __future__ import annotations

from typing import Any

import pytest

from harness.local_sagemaker import upload_source
from include.pipeline.overfit import STEP_TAG, STOPPED_BY_TAG, OverfitRule
from tests.tuning_helpers import curve_definition, new_name, tuning_request

# Both losses fall; with overfit=yes the validation loss turns up after epoch 5.
SCRIPT = b"""
import argparse, time
parser = argparse.ArgumentParser()
parser.add_argument("--overfit", default="no")
parser.add_argument("--epochs", type=int, default=40)
args, _ = parser.parse_known_args()
for epoch in range(args.epochs):
    train = 1.0 / (epoch + 1)
    validation = train * 1.05 + (0.05 * max(0, epoch - 5) if args.overfit == "yes" else 0.0)
    print(f"epoch={epoch} train_loss={train:.5f}; val_loss={validation:.5f};", flush=True)
    time.sleep(0.15)
"""
LOSSES = [
    {"Name": "train:loss", "Regex": r"train_loss=([0-9.]+);"},
    {"Name": "validation:loss", "Regex": r"val_loss=([0-9.]+);"},
]
RULE = OverfitRule(
    train="train:loss",
    validation="validation:loss",
    train_regex=LOSSES[0]["Regex"],
    validation_regex=LOSSES[1]["Regex"],
    patience=2,
    rounds="epochs",
)


@pytest.fixture(scope="module")
def definition(s3, bucket, channels) -> dict[str, Any]:
    code = upload_source(s3, bucket, {"curve.py": SCRIPT}, "code/overfit-watch/sourcedir.tar.gz")
    base = curve_definition(code, channels["train"], f"s3://{bucket}/overfit-watch", statics={"epochs": "40"})
    base["AlgorithmSpecification"]["MetricDefinitions"] = LOSSES
    return base


def sensor(name: str, rule: OverfitRule | None):
    from hpo_sagemaker.operators import OverfitStopSensor

    return OverfitStopSensor(
        task_id="watch_overfit",
        tuning_job_name=name,
        rule=rule.to_xcom() if rule else None,
        mode="poke",
        poll_seconds=0.5,
        timeout=240,
    )


def test_the_sensor_stops_the_overfitting_job_and_reports_it(sm, definition):
    name = new_name()
    ranges = {"CategoricalParameterRanges": [{"Name": "overfit", "Values": ["no", "yes"]}]}
    request = tuning_request(
        name, definition, "Grid", ranges=ranges, max_jobs=None, parallel=2, metric="validation:loss"
    )
    request["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]["Type"] = "Minimize"
    watch = sensor(name, RULE)
    assert watch.poke({}) is False  # the tuning job does not exist yet: wait for it, do not fail
    sm.create_hyper_parameter_tuning_job(**request)

    summary = watch.execute({})

    jobs = sm.list_training_jobs_for_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)[
        "TrainingJobSummaries"
    ]
    by_value = {j["TunedHyperParameters"]["overfit"]: j for j in jobs}
    stopped, kept = by_value["yes"], by_value["no"]
    assert stopped["TrainingJobStatus"] == "Stopped" and kept["TrainingJobStatus"] == "Completed"
    tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=stopped["TrainingJobArn"])["Tags"]}
    assert tags[STOPPED_BY_TAG] == "Overfit"
    # (v - t) / t = 0.05 + 0.05 * (epoch - 5) * (epoch + 1): 0.05 at epoch 5, 0.4 at epoch 6; patience 2: epoch 7.
    assert tags[STEP_TAG] == "7"
    assert summary["rule"] == "Overfit" and [s["job"] for s in summary["stopped"]] == [stopped["TrainingJobName"]]
    (record,) = summary["stopped"]
    assert record["step"] == 7 and record["planned_rounds"] == 40
    assert 8 <= record["rounds"] < 40 and summary["rounds_saved"] == 40 - record["rounds"]
    # The tuning job counts it as a stopped job with the last objective it reached, as AWS does.
    described = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["TrainingJobStatusCounters"]["Stopped"] == 1
    assert described["TrainingJobStatusCounters"]["Completed"] == 1
    assert stopped["FinalHyperParameterTuningJobObjectiveMetric"]["MetricName"] == "validation:loss"
    # A retried sensor (a clear, a reschedule) tells the same story from the tags alone.
    assert sensor(name, RULE).execute({}) == summary


def test_without_a_rule_the_sensor_skips_at_once():
    from airflow.sdk.exceptions import AirflowSkipException

    with pytest.raises(AirflowSkipException, match="stop_on_overfit is off"):
        sensor(new_name(), None).execute({})

"""Debugger built-in rules on the real local SageMaker: a rule whose StopTraining action fires stops the job,
and one that never fires ends NoIssuesFound with it. Tiny script jobs print their learning curves."""

from __future__ import annotations

import pytest

from harness.local_sagemaker import training_request, unique, upload_source, wait_for_job
from tests.integration.test_shapes import shape_errors

RULE_IMAGE = "503895931360.dkr.ecr.us-east-1.amazonaws.com/sagemaker-debugger-rules:latest"
# The training loss keeps falling; with --overfit the validation loss turns up after epoch 3.
CURVE = b"""
import sys, time
overfit = "--overfit" in sys.argv
for epoch in range(60):
    train = 1.0 / (epoch + 1)
    validation = train * 1.05 + (0.1 * max(0, epoch - 3) if overfit else 0.0)
    print(f"epoch={epoch} train_loss={train:.5f} val_loss={validation:.5f}", flush=True)
    time.sleep(0.05)
"""
LOSSES = [
    {"Name": "train:loss", "Regex": r"train_loss=([0-9.]+)"},
    {"Name": "validation:loss", "Regex": r"val_loss=([0-9.]+)"},
]


@pytest.fixture(scope="module")
def curve(s3, bucket) -> str:
    return upload_source(s3, bucket, {"curve.py": CURVE}, "code/debugger-curve/sourcedir.tar.gz")


def overfit_rule(name: str) -> dict:
    return {
        "RuleConfigurationName": "Overfit",
        "RuleEvaluatorImage": RULE_IMAGE,
        "RuleParameters": {
            "rule_to_invoke": "Overfit",
            "patience": "2",
            # What the SageMaker SDK sends for rule_configs.ActionList(rule_configs.StopTraining()).
            "action_json": f'[{{\\"name\\": \\"stoptraining\\", \\"training_job_prefix\\": \\"{name}\\"}}]',
        },
    }


def curve_job(name: str, code: str, channels: dict[str, str], bucket: str, overfit: bool) -> dict:
    hyperparameters = {"sagemaker_program": "curve.py", "sagemaker_submit_directory": code}
    if overfit:
        hyperparameters["overfit"] = ""
    return training_request(
        name,
        {"train": channels["train"]},
        f"s3://{bucket}/output",
        hyperparameters=hyperparameters,
        AlgorithmSpecification={"MetricDefinitions": LOSSES},
        DebugRuleConfigurations=[overfit_rule(name)],
    )


def test_an_overfit_rule_with_stop_training_stops_an_overfitting_job_early(sm, bucket, channels, curve):
    name = unique("overfits")
    sm.create_training_job(**curve_job(name, curve, channels, bucket, overfit=True))
    described = wait_for_job(sm, name)
    assert described["TrainingJobStatus"] == "Stopped", described.get("FailureReason")
    assert described["SecondaryStatus"] == "Stopped"
    (status,) = described["DebugRuleEvaluationStatuses"]
    assert status["RuleEvaluationStatus"] == "IssuesFound"
    # (v - t) / t = 0.05 + 0.1 (epoch - 3) (epoch + 1): above 0.1 from epoch 4, for the second time at epoch 5.
    assert status["StatusDetails"] == (
        "RuleEvaluationConditionMet: Evaluation of the rule Overfit at step 5 resulted in the condition being met\n"
    )
    assert status["RuleEvaluationJobArn"].startswith(
        f"arn:aws:sagemaker:us-east-1:123456789012:processing-job/{name[:26]}"
    )
    final = {m["MetricName"]: m["Value"] for m in described["FinalMetricDataList"]}
    assert final["train:loss"] > 1.0 / 60  # stopped long before its last epoch
    assert shape_errors("DescribeTrainingJob", described) == ""


def test_a_rule_that_never_fires_ends_no_issues_found_with_a_completed_job(sm, bucket, channels, curve):
    name = unique("healthy")
    sm.create_training_job(**curve_job(name, curve, channels, bucket, overfit=False))
    assert sm.describe_training_job(TrainingJobName=name)["DebugRuleEvaluationStatuses"][0]["RuleEvaluationStatus"] in (
        "InProgress",
        "NoIssuesFound",
    )
    described = wait_for_job(sm, name)
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    (status,) = described["DebugRuleEvaluationStatuses"]
    assert status["RuleEvaluationStatus"] == "NoIssuesFound" and "StatusDetails" not in status
    final = {m["MetricName"]: m["Value"] for m in described["FinalMetricDataList"]}
    assert final["train:loss"] == pytest.approx(1.0 / 60, abs=1e-5)
    assert shape_errors("DescribeTrainingJob", described) == ""


def test_a_rule_the_local_sagemaker_cannot_evaluate_is_refused_over_http(sm, bucket, channels, curve):
    config = curve_job(unique("refused"), curve, channels, bucket, overfit=False)
    config["DebugRuleConfigurations"][0]["RuleParameters"]["rule_to_invoke"] = "VanishingGradient"
    with pytest.raises(sm.exceptions.ClientError) as raised:
        sm.create_training_job(**config)
    error = raised.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert "DebugRuleConfigurations.1.RuleParameters.rule_to_invoke" in error["Message"]

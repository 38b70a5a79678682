"""Debugger built-in rules on a job's metrics: each rule's logic on synthetic curves, the request validation,
and the statuses and StopTraining action on a real backend (in-process, fake launcher)."""

from __future__ import annotations

from typing import Any

import pytest

from include.local_sagemaker.exceptions import ValidationException
from include.local_sagemaker.models.debugger import RulePlan, plans, validate_debugger
from include.local_sagemaker.models.store import StateStore
from include.local_sagemaker.models.training import TrainingJob
from include.local_sagemaker.runner.debugger import DebuggerRules
from include.local_sagemaker.runner.rules import LossNotDecreasing, Overfit, Overtraining
from tests.fake_launcher import IMAGE, REGION, ROLE, fake_backend

RULE_IMAGE = "503895931360.dkr.ecr.us-east-1.amazonaws.com/sagemaker-debugger-rules:latest"
LOSS_METRICS = [
    {"Name": "train:loss", "Regex": r"train_loss=([0-9.]+)"},
    {"Name": "validation:loss", "Regex": r"val_loss=([0-9.]+)"},
]


def plan(rule: str, series=(), pairs=(("train:loss", "validation:loss"),), **params: Any) -> RulePlan:
    from include.local_sagemaker.models.debugger import RULES

    full = {key: default for key, (_, default) in RULES[rule].items()} | params
    return RulePlan(rule, rule, full, tuple(series), tuple(pairs) if rule != "LossNotDecreasing" else (), None)


def feed(rule: Any, values: list[tuple[str, float]]) -> int | None:
    """The step the rule fires at over this stream, else None; a rule fires once."""
    for metric, value in values:
        step = rule.observe(metric, value)
        if step is not None:
            return step
    return None


def curves(train: list[float], validation: list[float]) -> list[tuple[str, float]]:
    out = []
    for t, v in zip(train, validation, strict=True):
        out += [("train:loss", t), ("validation:loss", v)]
    return out


# --- the rules' logic ------------------------------------------------------------------------------
def test_loss_not_decreasing_checks_every_num_steps_and_fires_when_the_loss_stalls():
    decreasing = [("train:loss", 1.0 / (step + 1)) for step in range(40)]
    assert feed(LossNotDecreasing(plan("LossNotDecreasing", series=["train:loss"])), decreasing) is None
    # Flat from step 12 on: checked at 10 (vs 0: decreased), fires at 20 (vs 10: 0.5 -> 0.5 is no decrease).
    stalls = [("train:loss", 1.0 - 0.05 * min(step, 10)) for step in range(40)]
    assert feed(LossNotDecreasing(plan("LossNotDecreasing", series=["train:loss"])), stalls) == 20
    # Every 3 steps: 12 against 9 still decreased (0.55 -> 0.5), 15 against 12 did not.
    assert feed(LossNotDecreasing(plan("LossNotDecreasing", series=["train:loss"], num_steps=3)), stalls) == 15
    # Another metric's values are not this rule's business.
    assert feed(LossNotDecreasing(plan("LossNotDecreasing", series=["train:loss"])), [("other", 1.0)] * 30) is None


def test_loss_not_decreasing_diff_percent_demands_a_large_enough_decrease():
    slow = [("loss", 1.0 * 0.99**step) for step in range(30)]  # ~9.6 % less every 10 steps
    assert feed(LossNotDecreasing(plan("LossNotDecreasing", series=["loss"])), slow) is None
    assert feed(LossNotDecreasing(plan("LossNotDecreasing", series=["loss"], diff_percent=5.0)), slow) is None
    assert feed(LossNotDecreasing(plan("LossNotDecreasing", series=["loss"], diff_percent=20.0)), slow) == 10


def test_overfit_fires_when_validation_pulls_away_for_patience_steps():
    train = [1.0 - 0.08 * step for step in range(10)]  # keeps improving
    validation = [1.0 - 0.08 * min(step, 3) + 0.05 * max(0, step - 3) for step in range(10)]  # worse after 3
    # (v - t) / t is 0 up to step 3, then 0.19, 0.43, ...: above 0.1 from step 4 on.
    assert feed(Overfit(plan("Overfit")), curves(train, validation)) == 4
    assert feed(Overfit(plan("Overfit", patience=3)), curves(train, validation)) == 6
    assert feed(Overfit(plan("Overfit", ratio_threshold=10.0)), curves(train, validation)) is None
    assert feed(Overfit(plan("Overfit", start_step=7)), curves(train, validation)) == 7
    healthy = [1.0 - 0.05 * step for step in range(10)]
    assert feed(Overfit(plan("Overfit")), curves(healthy, [v * 1.05 for v in healthy])) is None


def test_overfit_counts_consecutive_steps_and_pairs_values_by_step():
    # Above, below, above, above: patience 2 is met at step 3, not at 2.
    train, validation = [1.0, 1.0, 1.0, 1.0], [1.5, 1.0, 1.5, 1.5]
    assert feed(Overfit(plan("Overfit", patience=2)), curves(train, validation)) == 3
    # All the training values first, then the validation ones: still compared step by step.
    stream = [("train:loss", t) for t in train] + [("validation:loss", v) for v in validation]
    assert feed(Overfit(plan("Overfit", patience=2)), stream) == 3


def test_overtraining_fires_when_a_loss_stops_reaching_new_optima():
    improving = curves([1.0 - 0.15 * s for s in range(6)], [1.0 - 0.15 * s for s in range(6)])
    assert feed(Overtraining(plan("Overtraining")), improving) is None
    # Training plateaus after step 2: steps 3..7 bring no improvement > delta; patience_train 5 -> step 7.
    train = [1.0, 0.8, 0.6] + [0.58] * 10
    validation = [1.0, 0.8, 0.6] + [0.6 - 0.2 * s for s in range(1, 11)]
    assert feed(Overtraining(plan("Overtraining")), curves(train, validation)) == 7
    assert feed(Overtraining(plan("Overtraining", patience_train=2)), curves(train, validation)) == 4
    # With a smaller delta the 0.02 improvement at step 3 is a new optimum: step 8.
    assert feed(Overtraining(plan("Overtraining", delta=0.01)), curves(train, validation)) == 8
    # The validation loss has its own patience.
    flat_validation = curves([1.0 - 0.2 * s for s in range(12)], [0.5] * 12)
    assert feed(Overtraining(plan("Overtraining", patience_validation=4)), flat_validation) == 4


# --- validation -------------------------------------------------------------------------------------
def request(*rules: dict[str, Any], metrics=LOSS_METRICS, **extra: Any) -> dict[str, Any]:
    return {
        "TrainingJobName": "overfit-job",
        "RoleArn": ROLE,
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File", "MetricDefinitions": metrics},
        "HyperParameters": {"sagemaker_program": "train.py", "sagemaker_submit_directory": "s3://b/c.tar.gz"},
        "OutputDataConfig": {"S3OutputPath": "s3://b/out"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        "DebugRuleConfigurations": list(rules),
        **extra,
    }


def rule(name: str = "Overfit", image: str = RULE_IMAGE, **params: str) -> dict[str, Any]:
    return {
        "RuleConfigurationName": params.pop("config_name", name),
        "RuleEvaluatorImage": image,
        "RuleParameters": {"rule_to_invoke": name, **params},
    }


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (request(rule("Overfitting")), "RuleParameters.rule_to_invoke: 'Overfitting' is not a Debugger built-in rule"),
        (request(rule("VanishingGradient")), "'VanishingGradient' reads tensors"),
        (request({"RuleConfigurationName": "r", "RuleEvaluatorImage": RULE_IMAGE}), "rule_to_invoke is required"),
        (request(rule(image="123456789012.dkr.ecr.us-east-1.amazonaws.com/my-rules:latest")), "RuleEvaluatorImage"),
        (request(rule(image=RULE_IMAGE.replace("us-east-1", "us-west-2"))), "not the Debugger built-in rule image"),
        (
            request(
                rule(image="503895931360.dkr.ecr.us-east-1.amazonaws.com/sagemaker-debugger-rule-evaluator:latest")
            ),
            "custom rules",
        ),
        (
            request(rule(patience_steps="3")),
            "DebugRuleConfigurations.1.RuleParameters: unknown parameter(s) ['patience_steps']",
        ),
        (request(rule(patience="0")), "RuleParameters.patience: invalid value '0'"),
        (request(rule(patience="two")), "RuleParameters.patience: invalid value 'two'"),
        (request(rule(ratio_threshold="-1")), "RuleParameters.ratio_threshold"),
        (request(rule("LossNotDecreasing", diff_percent="100")), "RuleParameters.diff_percent"),
        (request(rule("LossNotDecreasing", mode="TEST")), "RuleParameters.mode"),
        (request(rule("LossNotDecreasing", use_losses_collection="maybe")), "use_losses_collection"),
        (request(rule("LossNotDecreasing", tensor_regex="(")), "RuleParameters.tensor_regex"),
        (request(rule("LossNotDecreasing", collection_names="gradients")), "collection 'gradients'"),
        (request(rule("Overfit"), metrics=[{"Name": "train:loss", "Regex": "l=([0-9.]+)"}]), "validation loss"),
        (request(rule("Overfit"), metrics=[{"Name": "validation:auc", "Regex": "a=(.+)"}]), "rule Overfit needs"),
        (request(rule("Overfit", tensor_regex=".*auc")), "matching tensor_regex"),
        (request(rule("LossNotDecreasing", mode="EVAL"), metrics=LOSS_METRICS[:1]), "no metric to watch (mode EVAL)"),
        (request(rule(action_json='[{"name": "email", "endpoint": "a@b.co"}]')), "action 'email' is not supported"),
        (request(rule(action_json="{not json")), "RuleParameters.action_json is not valid JSON"),
        (request(rule(action_json='{"name": "stoptraining"}')), "needs a training_job_prefix"),
        (request(rule(), rule()), "RuleConfigurationName must be unique"),
        (request(rule() | {"S3OutputPath": "s3://b/rules"}), "DebugRuleConfigurations.1.S3OutputPath"),
        (request(DebugHookConfig={"S3OutputPath": "s3://b/tensors"}), "DebugHookConfig is not supported"),
        (request(TensorBoardOutputConfig={"S3OutputPath": "s3://b/tb"}), "TensorBoardOutputConfig"),
        (request(ProfilerConfig={"S3OutputPath": "s3://b/p"}), "ProfilerConfig: the local SageMaker does not profile"),
        (request(ProfilerRuleConfigurations=[rule("ProfilerReport")]), "ProfilerRuleConfigurations"),
    ],
)
def test_requests_the_local_sagemaker_cannot_honour_are_refused_naming_the_field(tmp_path, spec, message):
    backend, launcher = fake_backend(tmp_path, lambda _: [1.0])
    with pytest.raises(ValidationException) as raised:
        backend.create_training_job(spec)
    assert message in str(raised.value)
    assert launcher.started == []  # refused before anything runs


def test_accepted_configurations_map_onto_the_jobs_metrics():
    accepted = request(
        rule("LossNotDecreasing", config_name="lnd", mode="TRAIN", num_steps="3"),
        rule("Overfit", patience="2", ratio_threshold="0.2"),
        rule(
            "Overtraining",
            action_json='[{\\"name\\": \\"stoptraining\\", \\"training_job_prefix\\": \\"Overfit-Job\\"}]',
        ),
        ProfilerConfig={"DisableProfiler": True},
    )
    lnd, overfit, overtraining = validate_debugger(accepted, REGION)
    assert lnd.series == ("train:loss",) and lnd.params["num_steps"] == 3 and lnd.params["diff_percent"] is None
    assert overfit.pairs == (("train:loss", "validation:loss"),)
    assert overfit.params == {"tensor_regex": None, "start_step": 0, "patience": 2, "ratio_threshold": 0.2}
    assert overtraining.stop_prefix == "overfit-job"  # the SDK's escaped form, lower-cased as the rule container does
    # The built-in XGBoost algorithm: AWS's own train:/validation: definitions; AUC is no loss, rmse is.
    builtin = request(rule("Overfit"), metrics=[], HyperParameters={"eval_metric": "rmse"})
    (xgb,) = plans(builtin, REGION)
    assert ("train:rmse", "validation:rmse") in xgb.pairs and ("train:auc", "validation:auc") not in xgb.pairs
    (by_regex,) = plans(request(rule("LossNotDecreasing", tensor_regex="val.*")), REGION)
    assert by_regex.series == ("validation:loss",)  # mode unset: EVAL first


# --- statuses, the StopTraining action, persistence ---------------------------------------------------
def started_job(backend, launcher, *rules: dict[str, Any], name: str = "overfit-job") -> TrainingJob:
    backend.create_training_job(request(*rules) | {"TrainingJobName": name})
    return backend.training_jobs[name]


def statuses(backend, name: str = "overfit-job") -> dict[str, dict[str, Any]]:
    described = backend.describe_training_job({"TrainingJobName": name})
    return {s["RuleConfigurationName"]: s for s in described["DebugRuleEvaluationStatuses"]}


STOP = '{"name": "stoptraining", "training_job_prefix": "overfit-job"}'
OVERFITTING = curves([1.0, 0.8, 0.6, 0.4], [1.0, 0.9, 1.0, 1.1])


def test_a_firing_rule_finds_issues_and_its_stop_training_action_stops_the_job(tmp_path):
    backend, launcher = fake_backend(tmp_path, lambda _: [1.0])
    job = started_job(backend, launcher, rule(action_json=STOP), rule("Overtraining", config_name="ot"))
    arns = {s["RuleEvaluationJobArn"] for s in statuses(backend).values()}
    assert {s["RuleEvaluationStatus"] for s in statuses(backend).values()} == {"InProgress"}
    assert len(arns) == 2 and all(":processing-job/overfit-job-" in a for a in arns)
    rules = DebuggerRules(backend, job)
    with backend.lock:
        for metric, value in OVERFITTING:
            rules.observe(metric, value)
    overfit = statuses(backend)["Overfit"]
    assert overfit["RuleEvaluationStatus"] == "IssuesFound"
    assert overfit["StatusDetails"] == (
        "RuleEvaluationConditionMet: Evaluation of the rule Overfit at step 1 resulted in the condition being met\n"
    )
    assert job.status == "Stopping" and job.stop_requested
    assert statuses(backend)["ot"]["RuleEvaluationStatus"] == "Stopping"
    launcher.tick()  # the runner ends a stopped job Stopped
    assert job.status == "Stopped"
    assert {n: s["RuleEvaluationStatus"] for n, s in statuses(backend).items()} == {
        "Overfit": "IssuesFound",
        "ot": "Stopped",
    }


def test_rules_that_never_fire_end_no_issues_found_with_the_job(tmp_path):
    backend, launcher = fake_backend(tmp_path, lambda _: [1.0])
    job = started_job(backend, launcher, rule(action_json=STOP))
    rules = DebuggerRules(backend, job)
    with backend.lock:
        for metric, value in curves([1.0, 0.8, 0.6], [1.0, 0.82, 0.63]):
            rules.observe(metric, value)
    assert statuses(backend)["Overfit"]["RuleEvaluationStatus"] == "InProgress"
    launcher.tick()  # the job's one round: Completed
    assert job.status == "Completed"
    assert statuses(backend)["Overfit"]["RuleEvaluationStatus"] == "NoIssuesFound"


def test_stop_training_stops_nothing_when_its_prefix_matches_several_jobs(tmp_path):
    backend, launcher = fake_backend(tmp_path, lambda _: [1.0])
    prefix = '{"name": "stoptraining", "training_job_prefix": "overfit"}'
    job = started_job(backend, launcher, rule(action_json=prefix))
    started_job(backend, launcher, name="overfit-other")
    rules = DebuggerRules(backend, job)
    with backend.lock:
        for metric, value in OVERFITTING:
            rules.observe(metric, value)
    assert statuses(backend)["Overfit"]["RuleEvaluationStatus"] == "IssuesFound"
    assert job.status == "InProgress"  # as smdebug's StopTrainingAction: exactly one match, or none stopped


def test_statuses_survive_a_restart_and_a_resumed_job_re_reads_its_metrics(tmp_path):
    backend, launcher = fake_backend(tmp_path, lambda _: [1.0])
    job = started_job(backend, launcher, rule(), rule("Overfit", config_name="late", start_step="3"))
    rules = DebuggerRules(backend, job)
    with backend.lock:
        for metric, value in OVERFITTING[:4]:  # steps 0 and 1: Overfit fires at 1, "late" waits for step 3
            job.record_metric(metric, value, job.created)
            rules.observe(metric, value)
        backend.save(job)
    restored, _ = fake_backend(tmp_path, lambda _: [1.0])
    store = StateStore(tmp_path / "state.sqlite3")
    for _region, name, body in store.load(TrainingJob.kind):
        restored.restore(TrainingJob.kind, name, body)
    again = restored.training_jobs[job.name]
    assert again.rule_statuses == job.rule_statuses
    assert statuses(restored)["Overfit"]["RuleEvaluationStatus"] == "IssuesFound"
    # The resumed job's rules read the stored values again, then carry on with new ones.
    resumed = DebuggerRules(restored, again)
    assert set(resumed.evaluators) == {"late"}
    with restored.lock:
        for metric, value in OVERFITTING[4:]:
            resumed.observe(metric, value)
    assert statuses(restored)["late"]["StatusDetails"].startswith(
        "RuleEvaluationConditionMet: Evaluation of the rule Overfit at step 3"
    )


def test_a_rule_that_breaks_ends_error_and_the_job_runs_on(tmp_path, monkeypatch):
    backend, launcher = fake_backend(tmp_path, lambda _: [1.0])
    job = started_job(backend, launcher, rule(action_json=STOP))
    rules = DebuggerRules(backend, job)

    def broken(metric: str, value: float) -> int | None:
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setattr(rules.evaluators["Overfit"], "observe", broken)
    with backend.lock:
        rules.observe("train:loss", 1.0)
        rules.observe("train:loss", 0.5)  # no longer evaluated
    status = statuses(backend)["Overfit"]
    assert status["RuleEvaluationStatus"] == "Error"
    assert status["StatusDetails"] == "InternalServerError: float division by zero"
    assert job.status == "InProgress"
    launcher.tick()
    assert statuses(backend)["Overfit"]["RuleEvaluationStatus"] == "Error"  # the job's end leaves it as it is

"""The stop_on_overfit rule in-process: AWS's Overfit condition (the same as the local Debugger's), the spec's
overfit_rule, the Param, the plan's rule and what the report says of the jobs it stopped."""

from __future__ import annotations

import random
from typing import Any

import pytest

from include.local_sagemaker.models.debugger import RulePlan
from include.local_sagemaker.runner.rules import Overfit
from include.pipeline.overfit import OverfitRule, overfit_step, rule_for
from include.pipeline.params import ParamError, RunParams
from include.pipeline.report import build_report, metric_curve
from include.pipeline.spec import OverfitRule as RuleSection
from include.pipeline.spec import SpecError, spec_from_mapping
from tests.specs import FLIGHT, HOTEL, MINIMAL, changed
from tests.unit.test_report import TUNING, job


def rule(**parameters: Any) -> OverfitRule:
    return OverfitRule("train:loss", "validation:loss", "t=(.*)", "v=(.*)", **parameters)


@pytest.mark.parametrize(
    ("train", "validation", "parameters", "fired"),
    [
        ([1.0, 0.5, 0.4], [1.05, 0.6, 0.5], {}, 1),  # 0.2 > 0.1 at step 1
        ([1.0, 0.5, 0.4], [1.05, 0.6, 0.5], {"patience": 2}, 2),  # two steps in a row
        ([1.0, 0.5, 0.4, 0.3], [1.05, 0.6, 0.41, 0.4], {"patience": 2}, None),  # the run of two is broken at step 2
        ([1.0, 0.5, 0.4], [1.05, 0.6, 0.5], {"start_step": 2}, 2),
        ([1.0, 0.5, 0.4], [1.05, 0.6, 0.5], {"ratio_threshold": 0.5}, None),
        ([1.0, 0.5, 0.4], [1.05, 0.6], {"start_step": 2}, None),  # only steps both curves reached count
        ([0.0, 0.0], [0.0, 0.1], {}, 1),  # a zero training loss: any validation loss above it is infinitely far
    ],
)
def test_overfit_fires_where_aws_defines_it(train, validation, parameters, fired):
    assert overfit_step(rule(**parameters), train, validation) == fired


def test_the_pipeline_rule_and_the_local_debugger_rule_agree_on_random_curves():
    """Two implementations of one AWS rule: the pipeline's (any SageMaker) and the local Debugger's (streaming)."""
    generator = random.Random(7)
    for case in range(300):
        steps = generator.randint(1, 30)
        train = [generator.uniform(0.1, 1.0) for _ in range(steps)]
        validation = [t * generator.uniform(0.9, 1.3) for t in train]
        parameters = {
            "start_step": generator.randint(0, 5),
            "patience": generator.randint(1, 4),
            "ratio_threshold": generator.choice([0.05, 0.1, 0.2]),
        }
        plan = RulePlan("Overfit", "Overfit", parameters, (), (("train:loss", "validation:loss"),), None)
        streaming = Overfit(plan)
        fired = None
        for t, v in zip(train, validation, strict=True):
            fired = streaming.observe("train:loss", t) or fired
            fired = fired if fired is not None else streaming.observe("validation:loss", v)
            if fired is not None:
                break
        assert overfit_step(rule(**parameters), train, validation) == fired, (case, parameters)


def with_rule(spec, train: str, validation: str):  # noqa: ANN001, ANN201
    return spec.model_copy(update={"overfit_rule": RuleSection(train=train, validation=validation)})


def test_a_script_rule_reads_the_losses_train_py_prints():
    flights = rule_for(with_rule(FLIGHT, "train:logloss", "validation:logloss"))
    assert (flights.train, flights.validation, flights.rounds) == ("train:logloss", "validation:logloss", "num_round")
    assert (flights.ratio_threshold, flights.patience, flights.start_step) == (0.1, 1, 0)  # AWS's defaults
    line = "[12] train:auc=0.812345; train:logloss=0.410000; validation:auc=0.791234; validation:logloss=0.430000;"
    assert flights.curves([line]) == ([0.41], [0.43])


def test_a_builtin_algorithm_rule_reads_the_algorithm_log_with_aws_regexes():
    hotel = rule_for(with_rule(HOTEL, "train:rmse", "validation:rmse"))
    assert (hotel.train, hotel.validation) == ("train:rmse", "validation:rmse")
    lines = ["[0]#011train-rmse:40.5#011validation-rmse:44.25", "[1]#011train-rmse:30.1#011validation-rmse:39.75"]
    assert hotel.curves(lines) == ([40.5, 30.1], [44.25, 39.75])
    assert metric_curve(lines, hotel.validation_regex) == [44.25, 39.75]


@pytest.mark.parametrize(
    ("rule_section", "said"),
    [
        ({"train": "train:mae", "validation": "validation:rmse"}, "overfit_rule.train"),  # not in eval_metric
        ({"train": "train:rmse", "validation": "test:rmse"}, "overfit_rule.validation"),
        ({"train": "train:rmse", "validation": "validation:rmse", "patience": 0}, "overfit_rule.patience"),
    ],
)
def test_a_rule_on_metrics_the_job_does_not_emit_is_refused_naming_the_field(rule_section, said):
    values = changed(MINIMAL, "static_hyperparameters.eval_metric", "rmse")
    with pytest.raises(SpecError, match=said.replace(".", r"\.")):
        spec_from_mapping(changed(values, "overfit_rule", rule_section))


def test_a_script_spec_rule_must_name_its_metric_definitions():
    script = {"kind": "script", "source_dir": "training_scripts/flight_delay", "entry_point": "train.py"}
    values = {
        **changed(MINIMAL, "algorithm", script),
        "objective": {
            "metric": "validation:rmse",
            "type": "Minimize",
            "metric_definitions": [{"name": "validation:rmse", "regex": "validation:rmse=([0-9.]+);"}],
        },
    }
    with pytest.raises(SpecError, match=r"overfit_rule\.train: 'train:rmse' is not one of"):
        spec_from_mapping({**values, "overfit_rule": {"train": "train:rmse", "validation": "validation:rmse"}})


def test_stop_on_overfit_needs_a_rule_in_the_spec():
    spec = spec_from_mapping(MINIMAL)
    assert RunParams.from_params({}, spec).stop_on_overfit is False  # off by default
    for without in (spec, FLIGHT, HOTEL):  # the shipped models declare none (see their specs)
        with pytest.raises(ParamError, match=f"needs an overfit_rule in {without.name}'s spec") as caught:
            RunParams.from_params({"stop_on_overfit": True}, without)
        assert caught.value.param == "stop_on_overfit"
    ruled = spec_from_mapping(
        {
            **changed(MINIMAL, "static_hyperparameters.eval_metric", "rmse"),
            "overfit_rule": {"train": "train:rmse", "validation": "validation:rmse"},
        }
    )
    assert RunParams.from_params({"stop_on_overfit": "true"}, ruled).stop_on_overfit is True
    with pytest.raises(SpecError, match=r"tuning\.stop_on_overfit"):
        spec_from_mapping(changed(MINIMAL, "tuning", {"stop_on_overfit": True}))


def test_the_report_counts_the_jobs_the_rule_stopped_and_the_rounds_saved():
    jobs = [job(1, 0.71), job(2, 0.69, status="Stopped"), job(3, 0.7, status="Stopped")]
    overfit = {
        "rule": "Overfit",
        "stopped": [{"job": jobs[1]["name"], "step": 11, "rounds": 13, "planned_rounds": 100}],
        "rounds_saved": 87,
    }
    built = build_report(TUNING, jobs, overfit=overfit, plots=False)
    assert built.totals["overfit_stopped"] == 1 and built.totals["rounds_saved"] == 87
    assert "stopped 1 of 3 training jobs" in built.html and "ran 13 of their 100 rounds, saving 87" in built.html
    assert "stopped by the Overfit rule at step 11" in built.html
    # Job 3 stopped for another reason (Auto early stopping, the tuning job stopped): not the rule's.
    assert built.html.count("stopped by the Overfit rule") == 1 and "stopped early" in built.html
    quiet = build_report(TUNING, jobs, overfit={"rule": "Overfit", "stopped": [], "rounds_saved": 0}, plots=False)
    assert "it stopped none of the 3 training jobs" in quiet.html
    assert "Overfit rule" not in build_report(TUNING, jobs, plots=False).html


def test_the_rule_travels_as_xcom_unchanged():
    flights = rule_for(with_rule(FLIGHT, "train:logloss", "validation:logloss"))
    assert OverfitRule.from_xcom(flights.to_xcom()) == flights

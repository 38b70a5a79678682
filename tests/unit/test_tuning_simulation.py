"""The simulated tuning job's external stop (harness/tuning_simulation.py), what benchmarks/overfit_rule.py measures
the pipeline's Overfit watcher with: made-up curves, the real rule (include/pipeline/overfit.py) and TuningLoop."""

from __future__ import annotations

from dataclasses import dataclass

from harness.tuning_simulation import Curve, simulate
from include.local_sagemaker.models.tuning import TuningJob
from include.local_sagemaker.strategies import SearchSpace, Suggestion
from include.local_sagemaker.strategies.base import RandomStrategy
from include.pipeline.overfit import OverfitRule, overfit_step

ROUNDS = 10
DIVERGES_AT = 3  # 0-based round from which an overfitting job's validation loss leaves its training loss
RULE = OverfitRule("train:loss", "validation:loss", "", "")  # AWS's defaults: ratio 0.1, patience 1, start 0


@dataclass(frozen=True)
class LossCurve(Curve):
    train_loss: tuple[float, ...]
    validation_loss: tuple[float, ...]


class MadeUp:
    """x in [0, 1]: the objective climbs by 0.01 a round from x; jobs with x > 0.5 overfit from DIVERGES_AT on."""

    rounds = ROUNDS

    def curve(self, hyperparameters: dict[str, str]) -> LossCurve:
        x = float(hyperparameters["x"])
        validation = tuple(x + r / 100 for r in range(1, ROUNDS + 1))
        train_loss = tuple(1.0 - r / 20 for r in range(ROUNDS))
        gap = [0.5 if x > 0.5 and r >= DIVERGES_AT else 0.0 for r in range(ROUNDS)]
        return LossCurve(
            validation=validation,
            test=tuple(v - 0.1 for v in validation),
            train_loss=train_loss,
            validation_loss=tuple(t * (1 + g) for t, g in zip(train_loss, gap, strict=True)),
        )

    def round_cost(self, hyperparameters: dict[str, str]) -> float:
        return 1.0


def overfit_watcher(curve: Curve, rounds: int) -> bool:
    assert isinstance(curve, LossCurve)
    return overfit_step(RULE, curve.train_loss[:rounds], curve.validation_loss[:rounds]) is not None


def tuning() -> TuningJob:
    config = {
        "Strategy": "Random",
        "ResourceLimits": {"MaxNumberOfTrainingJobs": 8, "MaxParallelTrainingJobs": 2},
        "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "value"},
        "ParameterRanges": {"ContinuousParameterRanges": [{"Name": "x", "MinValue": "0", "MaxValue": "1"}]},
        "RandomSeed": 0,
        "TrainingJobEarlyStoppingType": "Off",
    }
    return TuningJob(
        "us-east-1",
        {
            "HyperParameterTuningJobName": "made-up",
            "HyperParameterTuningJobConfig": config,
            "TrainingJobDefinition": {"StaticHyperParameters": {"rounds": str(ROUNDS)}},
        },
    )


def test_an_external_stop_finishes_the_job_at_the_round_the_rule_fires_with_its_last_value():
    objective = MadeUp()
    plain = simulate(tuning(), objective)
    watched_job = tuning()
    watched = simulate(watched_job, objective, external_stop=overfit_watcher)

    # Random's jobs do not depend on outcomes: the same jobs, only some of them stopped.
    assert [r.hyperparameters for r in watched] == [r.hyperparameters for r in plain]
    assert all(r.rounds == ROUNDS and not r.stopped for r in plain)
    overfitting = [r for r in watched if float(r.hyperparameters["x"]) > 0.5]
    assert overfitting and len(overfitting) < len(watched)
    for record, trial in zip(watched, watched_job.trials, strict=True):
        curve = objective.curve(record.hyperparameters)
        if record in overfitting:
            assert (record.rounds, record.stopped) == (DIVERGES_AT + 1, True)
            assert record.value == curve.validation[DIVERGES_AT] == trial.objective  # what the strategy was told
            assert record.test == curve.test[DIVERGES_AT]
            assert trial.curve == list(curve.validation[: DIVERGES_AT + 1])
        else:
            assert (record.rounds, record.stopped, record.value) == (ROUNDS, False, curve.validation[-1])


class Fixed(RandomStrategy):
    """Suggests x = 0.125 every time: a strategy no tuning job could name, to see that the hook's drives the loop."""

    def suggest(self) -> Suggestion | None:
        return self._ask({"x": 0.125})


def test_a_strategy_hook_replaces_the_strategy_the_loop_built_and_hears_every_tell():
    built: list[Fixed] = []

    def fixed(tuning_job: TuningJob) -> Fixed:
        built.append(Fixed(SearchSpace.from_ranges(tuning_job.ranges()), tuning_job.maximize, 0))
        return built[-1]

    job = tuning()
    records = simulate(job, MadeUp(), strategy=fixed)

    assert len(built) == 1 and len(records) == 8
    assert {r.hyperparameters["x"] for r in records} == {"0.125"}  # Random with seed 0 would never repeat a point
    assert [t.hyperparameters for t in job.trials] == [r.hyperparameters for r in records]
    study = built[0].study
    assert [t.value for t in study.trials] == [r.value for r in records] == [0.125 + ROUNDS / 100] * 8

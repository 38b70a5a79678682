"""A tuning job run by the service's own decision loop (`include/local_sagemaker/tuning_loop.py`), its training jobs
simulated from per-round learning curves: what benchmarks/search_quality.py and benchmarks/overfit_rule.py measure
with, and what tests/unit exercise with made-up curves. It lives here, not in benchmarks/, because tests may not
import benchmarks (import-linter's benchmarks-no-tests contract) and both need it.

2 jobs in flight (or the tuning job's MaxParallelTrainingJobs), a finished job's objective told before the next ask,
one intermediate value per round (Hyperband's pruner and the Auto median rule see every round), and a stopped job
told the last value it reached. Job durations are simulated (a deterministic cost per round), so the finishing
order, and with it what each ask saw, is the same on every run.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from include.local_sagemaker.models.tuning import Trial, TuningJob
from include.local_sagemaker.strategies import Strategy
from include.local_sagemaker.tuning_loop import ParentJobs, TuningLoop


@dataclass(frozen=True)
class Curve:
    validation: tuple[float, ...]  # the objective after each round; the last one is the job's objective
    test: tuple[float, ...]  # the held-out metric of the model as it is after each round


class SimulatedObjective(Protocol):
    """What `simulate` needs of an objective: each job's curve, its simulated seconds per round, its rounds."""

    rounds: int

    def curve(self, hyperparameters: dict[str, str]) -> Curve: ...

    def round_cost(self, hyperparameters: dict[str, str]) -> float: ...


@dataclass
class JobRecord:
    index: int  # launch order: the first n of these are what a tuning job with n jobs would have run
    trial: int
    hyperparameters: dict[str, str]
    ask_seconds: float
    value: float = math.nan  # the objective told to the strategy: the last value the job reached
    test: float = math.nan  # the held-out metric of the model at that round
    rounds: int = 0
    stopped: bool = False


# Whether a watcher outside the tuning job stops a job now, given its curve and the rounds it has run.
ExternalStop = Callable[[Curve, int], bool]
# A strategy the service does not ship (a comparison sampler), built for the tuning job it is to drive.
StrategyFactory = Callable[[TuningJob], Strategy]


def simulate(
    tuning: TuningJob,
    objective: SimulatedObjective,
    parents: ParentJobs | None = None,
    external_stop: ExternalStop | None = None,
    strategy: StrategyFactory | None = None,
) -> list[JobRecord]:
    """Run a tuning job through the service's own TuningLoop, its training jobs simulated.

    The loop decides as it does in the service: every round's value is observed (Hyperband prunes there, and
    with Auto early stopping the median rule checks every job's curve so far); a job that finishes or is
    stopped is finished with its last value, and the freed slot is filled by the next ask at once.

    `external_stop` is a watcher outside the tuning job (the pipeline's Overfit task, include/pipeline/overfit.py):
    asked after each round the loop observed, a True stops the job there, as a StopTrainingJob on a tuning job's
    child does in the service (runner/tuning.py finishes a Stopped job with the last objective value it emitted).
    It acts at the round it fires: an ideal watcher, with no polling delay.

    `strategy` replaces the strategy the loop built from the tuning job's Strategy field (benchmarks/search_suite.py
    compares other libraries' samplers this way): everything else, the asks, the tells, the early stopping and the
    end, stays the shipped loop's, so every arm of a comparison is driven alike. A tuning job with several
    training job definitions has a search space per definition, so the hook is for single-definition jobs; it is
    built after the loop, so warm-start `parents` are not told to it.
    """
    loop = TuningLoop(tuning, parents)
    if strategy is not None:
        if len(loop.strategies) != 1:
            raise ValueError("a strategy hook drives a tuning job of one training job definition")
        loop.strategies = {name: strategy(tuning) for name in loop.strategies}
    records: list[JobRecord] = []
    running: dict[int, tuple[JobRecord, Trial, Curve, float]] = {}
    events: list[tuple[float, int]] = []  # (simulated time of the next round's end, launch index)

    def launch(now: float) -> None:
        while loop.free_slots():
            started = time.perf_counter()
            asked = loop.ask(1)
            latency = time.perf_counter() - started
            if not asked:
                return
            trial = loop.add(*asked[0])
            record = JobRecord(len(records), trial.trial, trial.hyperparameters, latency)
            records.append(record)
            cost = objective.round_cost(trial.hyperparameters)
            running[record.index] = (record, trial, objective.curve(trial.hyperparameters), cost)
            heapq.heappush(events, (now + cost, record.index))

    launch(0.0)
    while events:
        now, index = heapq.heappop(events)
        record, trial, curve, cost = running[index]
        step = len(trial.curve) + 1
        value = curve.validation[step - 1]
        stop = loop.observe(trial, list(curve.validation[:step]))
        ended = stop or step == objective.rounds
        if not ended and external_stop is not None and external_stop(curve, step):
            ended = True
        if ended:
            loop.finish(trial, value)
            record.value, record.test, record.rounds = value, curve.test[step - 1], step
            record.stopped = step < objective.rounds
            del running[index]
            if loop.completion() is None:
                launch(now)
        else:
            heapq.heappush(events, (now + cost, index))
    return records

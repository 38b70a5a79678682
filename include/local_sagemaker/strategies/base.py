"""The strategy interface: `suggest` the next hyperparameters, `tell` a result, `report` an epoch.

One Optuna study per tuning job, in memory, driven ask/tell from the tuning job's scheduler thread. The
study is rebuilt from the persisted trials after a restart (`restore`). Warm start with the same data seeds it
with the parents' evaluated jobs (`seed_with`); after a data change it first tries the parents' best
hyperparameters on the new data (`transfer`), and the Bayesian sampler then also learns from the parents'
jobs, re-levelled to the new data. Strategies differ only in their sampler and pruner.
"""

from __future__ import annotations

import abc
import itertools
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import optuna
from optuna.trial import TrialState

from .gp import GPEISampler
from .space import SearchSpace

optuna.logging.set_verbosity(optuna.logging.WARNING)


class Restorable(Protocol):
    """A trial as a tuning job persisted it (models.tuning.Trial), to replay into a new strategy."""

    trial: int
    hyperparameters: dict[str, str]
    curve: list[float]
    objective: float | None

    @property
    def finished(self) -> bool: ...


@dataclass(frozen=True)
class Suggestion:
    trial: int
    hyperparameters: dict[str, str]


class Strategy(abc.ABC):
    name: ClassVar[str]

    def __init__(self, space: SearchSpace, maximize: bool, seed: int | None, config: dict[str, Any] | None = None):
        self.space = space
        self.maximize = maximize
        self.seed = seed
        self.config = config or {}
        self.study = optuna.create_study(
            direction="maximize" if maximize else "minimize",
            sampler=self.sampler(),
            pruner=self.pruner(),
            study_name=f"{self.name}-{seed}",
        )
        self._running: dict[int, optuna.trial.Trial] = {}

    @abc.abstractmethod
    def sampler(self) -> optuna.samplers.BaseSampler: ...

    def pruner(self) -> optuna.pruners.BasePruner:
        return optuna.pruners.NopPruner()

    # --- the interface ---------------------------------------------------------------------------
    def suggest(self) -> Suggestion | None:
        """The next hyperparameters to try, or None when this strategy has nothing left (Grid)."""
        return self._ask()

    def _ask(self, fixed: dict[str, Any] | None = None) -> Suggestion:
        if fixed is not None:
            self.study.enqueue_trial(fixed, skip_if_exists=False)
        trial = self.study.ask(self.space.distributions())
        self._running[trial.number] = trial
        return Suggestion(trial.number, self.space.to_strings(trial.params))

    def tell(self, trial: int, value: float | None) -> None:
        """A job's final objective; None when it failed or emitted no objective."""
        running = self._running.pop(trial, None)
        if running is None:
            return
        if value is None:
            self.study.tell(running, state=TrialState.FAIL)
        else:
            self.study.tell(running, value)

    def report(self, trial: int, step: int, value: float) -> bool:
        """An intermediate objective at `step` (1-based epochs); True if the job should stop now."""
        running = self._running.get(trial)
        if running is None:
            return False
        running.report(value, step)
        return running.should_prune()

    # --- warm start and restart ------------------------------------------------------------------
    def seed_with(self, evaluated: list[tuple[dict[str, str], float]]) -> int:
        """Add parents' evaluated jobs as finished trials; those outside this space are skipped."""
        added = 0
        distributions = self.space.distributions()
        for hyperparameters, value in evaluated:
            params = self.space.from_strings(hyperparameters)
            if params is None:
                continue
            self.study.add_trial(optuna.trial.create_trial(params=params, distributions=distributions, value=value))
            added += 1
        return added

    def enqueue(self, configurations: list[dict[str, str]], skip: int = 0) -> int:
        """Try these hyperparameters next, in order, after the first `skip` of them (already tried before a
        restart); those outside this space are left out. Call after `restore`."""
        params = [p for p in map(self.space.from_strings, configurations) if p is not None]
        for fixed in params[skip:]:
            self.study.enqueue_trial(fixed, skip_if_exists=False)
        return len(params[skip:])

    def transfer(self, evaluated: list[tuple[str, dict[str, str], float]], limit: int, skip: int = 0) -> int:
        """Warm start after the data changed, from (parent, hyperparameters, objective) of the parents' finished
        jobs: the parents' objective values were measured on other data, so they are not added as trials.
        Instead each parent's best hyperparameters run first (in the order the parents are listed, each set
        once, at most `limit`), after the first `skip` (already run before a restart). Call after `restore`."""
        best: dict[str, tuple[dict[str, str], float]] = {}
        better = (lambda a, b: a > b) if self.maximize else (lambda a, b: a < b)
        for parent, hyperparameters, value in evaluated:
            if parent not in best or better(value, best[parent][1]):
                best[parent] = (hyperparameters, value)
        unique = {tuple(sorted(h.items())): h for h, _ in best.values()}
        return self.enqueue(list(unique.values())[:limit], skip=skip)

    def restore(self, trials: Iterable[Restorable]) -> None:
        """Replay persisted trials in order: finished ones are told again, running ones re-opened."""
        for record in trials:
            suggestion = self._ask(self.space.from_strings(record.hyperparameters) or {})
            if suggestion.trial != record.trial:
                raise RuntimeError(f"trial numbering diverged while restoring ({suggestion.trial} != {record.trial})")
            for step, value in enumerate(record.curve, start=1):
                self.report(record.trial, step, value)
            if record.finished:
                self.tell(record.trial, record.objective)

    @property
    def exhausted(self) -> bool:
        return False


class BayesianStrategy(Strategy):
    """Model-based search: a Gaussian process with log expected improvement (see gp.py for why not TPE)."""

    name = "Bayesian"

    def sampler(self) -> optuna.samplers.BaseSampler:
        return GPEISampler(seed=self.seed, n_startup_trials=self.config.get("startup", 5))

    def transfer(self, evaluated: list[tuple[str, dict[str, str], float]], limit: int, skip: int = 0) -> int:
        """As Strategy.transfer, and the GP also models the parents' jobs, each parent shifted by the
        difference its re-run best made on the new data."""
        sampler = self.study.sampler
        assert isinstance(sampler, GPEISampler)
        sampler.transfer = [
            (parent, params, value)
            for parent, hyperparameters, value in evaluated
            if (params := self.space.from_strings(hyperparameters)) is not None
        ]
        return super().transfer(evaluated, limit, skip)


class RandomStrategy(Strategy):
    name = "Random"

    def sampler(self) -> optuna.samplers.BaseSampler:
        return optuna.samplers.RandomSampler(seed=self.seed)


class GridStrategy(Strategy):
    """Every combination of the categorical values, each exactly once, in an order shuffled by the seed."""

    name = "Grid"

    def enqueue(self, configurations: list[dict[str, str]], skip: int = 0) -> int:
        return 0  # the grid alone decides what runs

    def sampler(self) -> optuna.samplers.BaseSampler:
        # Every trial's parameters are fixed from the grid; the sampler is never consulted.
        return optuna.samplers.RandomSampler(seed=self.seed)

    def _grid(self) -> list[dict[str, str]]:
        names = [p.name for p in self.space.parameters]
        points = [
            dict(zip(names, combo, strict=True))
            for combo in itertools.product(*(p.values for p in self.space.parameters))
        ]
        random.Random(self.seed).shuffle(points)
        return points

    def suggest(self) -> Suggestion | None:
        used = [t.params for t in self.study.trials]
        for point in self._grid():
            if point not in used:
                return self._ask(point)
        return None

    @property
    def exhausted(self) -> bool:
        return len(self.study.trials) >= self.space.grid_size()


class HyperbandStrategy(Strategy):
    """Hyperband on the jobs' intermediate objective values (one per epoch), sampling with TPE."""

    name = "Hyperband"

    def sampler(self) -> optuna.samplers.BaseSampler:
        return optuna.samplers.TPESampler(seed=self.seed, multivariate=True, constant_liar=True, n_startup_trials=5)

    def pruner(self) -> optuna.pruners.BasePruner:
        return optuna.pruners.HyperbandPruner(
            min_resource=self.config.get("MinResource", 1),
            max_resource=self.config["MaxResource"],
            reduction_factor=3,
        )


STRATEGIES: dict[str, type[Strategy]] = {
    cls.name: cls for cls in (BayesianStrategy, RandomStrategy, GridStrategy, HyperbandStrategy)
}


def make_strategy(
    name: str, space: SearchSpace, maximize: bool, seed: int | None, config: dict[str, Any] | None = None
) -> Strategy:
    return STRATEGIES[name](space, maximize, seed, config)

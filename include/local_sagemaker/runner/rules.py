"""The Debugger loss rules, evaluated on a job's metric values as they are parsed: pure logic, no I/O.

Each evaluator is fed (metric, value) in emission order and answers the step at which its condition is met,
or None. Which metrics a rule watches, and what a step is, is decided in models/debugger.py. The conditions,
from https://docs.aws.amazon.com/sagemaker/latest/dg/debugger-built-in-rules.html:

- LossNotDecreasing: every `num_steps` (from the first value, then from the last step checked, as in the
  doc's example: checked at step 21 against step 9, next at the first step >= 31), the loss must have
  decreased, by at least `diff_percent` percent of the earlier value when that is given. Each watched
  metric is checked on its own; the first to fail fires the rule.
- Overfit: from `start_step` on, (validation - training) / |training| above `ratio_threshold` for
  `patience` consecutive steps.
- Overtraining: the training loss has not reached a new optimum (better than the best by more than `delta`)
  for `patience_train` steps, or the validation loss for `patience_validation` steps.
"""

from __future__ import annotations

from typing import Protocol

from ..models.debugger import RulePlan


class Evaluator(Protocol):
    def observe(self, metric: str, value: float) -> int | None:
        """The step at which the rule's condition is met by this value, else None."""
        ...


class LossNotDecreasing:
    def __init__(self, plan: RulePlan) -> None:
        self.num_steps: int = plan.params["num_steps"]
        self.diff_percent: float | None = plan.params["diff_percent"]
        self.values: dict[str, list[float]] = {metric: [] for metric in plan.series}
        self.reference: dict[str, int] = {metric: 0 for metric in plan.series}

    def observe(self, metric: str, value: float) -> int | None:
        if metric not in self.values:
            return None
        series = self.values[metric]
        series.append(value)
        step, reference = len(series) - 1, self.reference[metric]
        if step < reference + self.num_steps:
            return None
        self.reference[metric] = step
        before = series[reference]
        needed = 0.0 if self.diff_percent is None else abs(before) * self.diff_percent / 100
        decreased = before - value > needed if self.diff_percent is not None else value < before
        return None if decreased else step


class _Pairs:
    """Training and validation series of the watched metric pairs, stepped together."""

    def __init__(self, plan: RulePlan) -> None:
        self.pairs = plan.pairs
        self.values: dict[str, list[float]] = {m: [] for pair in plan.pairs for m in pair}

    def _record(self, metric: str, value: float) -> bool:
        if metric not in self.values:
            return False
        self.values[metric].append(value)
        return True


class Overfit(_Pairs):
    def __init__(self, plan: RulePlan) -> None:
        super().__init__(plan)
        self.start_step: int = plan.params["start_step"]
        self.patience: int = plan.params["patience"]
        self.ratio_threshold: float = plan.params["ratio_threshold"]
        self.checked = {pair: 0 for pair in self.pairs}  # steps compared so far
        self.exceeded = {pair: 0 for pair in self.pairs}  # consecutive steps above the threshold

    def observe(self, metric: str, value: float) -> int | None:
        if not self._record(metric, value):
            return None
        for pair in self.pairs:
            train, validation = (self.values[m] for m in pair)
            while self.checked[pair] < min(len(train), len(validation)):
                step = self.checked[pair]
                self.checked[pair] += 1
                if step < self.start_step:
                    continue
                if _ratio(train[step], validation[step]) > self.ratio_threshold:
                    self.exceeded[pair] += 1
                    if self.exceeded[pair] >= self.patience:
                        return step
                else:
                    self.exceeded[pair] = 0
        return None


def _ratio(train: float, validation: float) -> float:
    if train == 0:
        return float("inf") if validation > 0 else 0.0
    return (validation - train) / abs(train)


class Overtraining(_Pairs):
    def __init__(self, plan: RulePlan) -> None:
        super().__init__(plan)
        self.delta: float = plan.params["delta"]
        self.patience = {
            **{train: plan.params["patience_train"] for train, _ in self.pairs},
            **{validation: plan.params["patience_validation"] for _, validation in self.pairs},
        }
        self.best: dict[str, float] = {}
        self.since_best: dict[str, int] = {}

    def observe(self, metric: str, value: float) -> int | None:
        if not self._record(metric, value):
            return None
        if metric not in self.best or value < self.best[metric] - self.delta:
            self.best[metric], self.since_best[metric] = value, 0
            return None
        self.since_best[metric] += 1
        return len(self.values[metric]) - 1 if self.since_best[metric] >= self.patience[metric] else None


EVALUATORS: dict[str, type[LossNotDecreasing] | type[Overfit] | type[Overtraining]] = {
    "LossNotDecreasing": LossNotDecreasing,
    "Overfit": Overfit,
    "Overtraining": Overtraining,
}


def evaluator(plan: RulePlan) -> Evaluator:
    return EVALUATORS[plan.rule](plan)

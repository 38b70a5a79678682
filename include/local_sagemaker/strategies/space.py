"""AMT parameter ranges as Optuna distributions, and back to the strings a training job receives.

Scaling as AMT documents it: Linear samples the range uniformly; Logarithmic uniformly in log space (so
Min must be > 0); ReverseLogarithmic uniformly in log(1 - x), dense near 1 (continuous ranges in [0, 1)
only), which we model as a log-scaled variable y = 1 - x. Auto chooses Logarithmic for a positive range
spanning at least two orders of magnitude and Linear otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

KINDS = ("Continuous", "Integer", "Categorical")


@dataclass(frozen=True)
class Parameter:
    name: str
    kind: str
    low: float = 0.0
    high: float = 0.0
    scaling: str = "Linear"
    values: tuple[str, ...] = ()

    @property
    def reverse(self) -> bool:
        return self.scaling == "ReverseLogarithmic"

    def distribution(self) -> BaseDistribution:
        if self.kind == "Categorical":
            return CategoricalDistribution(self.values)
        log = self.scaling in ("Logarithmic", "ReverseLogarithmic")
        if self.kind == "Integer":
            return IntDistribution(int(self.low), int(self.high), log=log)
        if self.reverse:
            return FloatDistribution(1.0 - self.high, 1.0 - self.low, log=True)
        return FloatDistribution(self.low, self.high, log=log)

    def to_string(self, internal: Any) -> str:
        """What the training job receives for Optuna's value."""
        if self.kind == "Categorical":
            return str(internal)
        if self.kind == "Integer":
            return str(int(internal))
        value = 1.0 - internal if self.reverse else float(internal)
        return repr(value)

    def from_string(self, text: str) -> Any | None:
        """Optuna's value for a string a job received; None if it lies outside this range (warm start)."""
        if self.kind == "Categorical":
            return text if text in self.values else None
        try:
            number = float(text)
        except ValueError:
            return None
        if not self.low <= number <= self.high:
            return None
        if self.kind == "Integer":
            return int(round(number))
        return 1.0 - number if self.reverse else number


def _scaling(kind: str, low: float, high: float, requested: str | None) -> str:
    scaling = requested or "Auto"
    if scaling != "Auto":
        return scaling
    if kind != "Categorical" and low > 0 and high / low >= 100:
        return "Logarithmic"
    return "Linear"


@dataclass(frozen=True)
class SearchSpace:
    parameters: tuple[Parameter, ...]

    @classmethod
    def from_ranges(cls, ranges: dict[str, Any] | None) -> SearchSpace:
        """Build from a ParameterRanges structure, assumed valid (see models.tuning.validate_create)."""
        ranges = ranges or {}
        parameters: list[Parameter] = []
        for kind in ("Continuous", "Integer"):
            for r in ranges.get(f"{kind}ParameterRanges") or []:
                low, high = float(r["MinValue"]), float(r["MaxValue"])
                parameters.append(
                    Parameter(r["Name"], kind, low, high, _scaling(kind, low, high, r.get("ScalingType")))
                )
        for r in ranges.get("CategoricalParameterRanges") or []:
            parameters.append(Parameter(r["Name"], "Categorical", values=tuple(r["Values"])))
        return cls(tuple(parameters))

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    def distributions(self) -> dict[str, BaseDistribution]:
        return {p.name: p.distribution() for p in self.parameters}

    def to_strings(self, params: dict[str, Any]) -> dict[str, str]:
        return {p.name: p.to_string(params[p.name]) for p in self.parameters}

    def from_strings(self, hyperparameters: dict[str, str]) -> dict[str, Any] | None:
        """Optuna params for a past job's hyperparameters, or None if any falls outside this space."""
        params = {}
        for p in self.parameters:
            if p.name not in hyperparameters:
                return None
            value = p.from_string(hyperparameters[p.name])
            if value is None:
                return None
            params[p.name] = value
        return params

    def grid_size(self) -> int:
        return math.prod(len(p.values) for p in self.parameters)

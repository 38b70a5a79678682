"""Champion against challenger on the same held-out rows: the difference in the spec's metric, with an interval.

One held-out day holds a few hundred rows, so two models' scores on it differ by chance as much as by quality
(`benchmarks/results/warm_start.md`: equally good searches differ by a few hundredths of AUC on one day). The
promotion rule therefore decides on the paired difference and how sure we are of it, not on the two numbers:

- AUC: DeLong's test for two correlated ROC curves (DeLong, DeLong & Clarke-Pearson 1988, "Comparing the areas
  under two or more correlated receiver operating characteristic curves", Biometrics 44(3)), computed with the
  midrank algorithm of Sun & Xu 2014 (IEEE Signal Processing Letters 21(11)): the variance of the AUC difference
  from the two models' structural components on the same positives and negatives; a normal interval.
- any other metric (log_loss, accuracy, rmse, mae, r2): a paired bootstrap, the rows resampled with replacement
  BOOTSTRAP_RESAMPLES times with a fixed seed (a re-run gives the same interval), both models scored on each
  resample; the percentile interval of the difference.

`gain` is oriented so that positive means the challenger is better, whichever way the metric points (for a
Minimize metric, champion minus challenger). The challenger wins when the interval's lower end is above the
margin; two identical models (gain 0, an interval of width 0) therefore never win with a margin of 0 or more.

numpy and scipy are imported inside the functions, so importing this module stays cheap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

from .scoring import Metric, score

if TYPE_CHECKING:
    import numpy as np

DEFAULT_CONFIDENCE = 0.9
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 2013
_CHUNK = 250  # resamples scored at once: memory is _CHUNK × rows floats per array


@dataclass(frozen=True)
class Comparison:
    """The paired comparison of two models' predictions on the same rows."""

    metric: str
    direction: str
    challenger: float
    champion: float
    gain: float  # challenger better by this much, in the metric's units (negative: worse)
    low: float  # the interval of gain at `confidence`
    high: float
    confidence: float
    method: str

    def wins(self, margin: float) -> bool:
        """Whether the challenger is better by more than margin at this confidence: the interval's lower end."""
        return self.low > margin

    def describe(self) -> str:
        level = f"{self.confidence * 100:g} %"
        return f"gain {self.gain:+.4f}, {level} interval [{self.low:+.4f}, {self.high:+.4f}] ({self.method})"


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def delong(labels: Any, first: Any, second: Any) -> tuple[float, float, float]:
    """(AUC of first, AUC of second, variance of their difference) on the same rows, by DeLong's method.

    Sun & Xu's midrank form: with m positives and n negatives, each model's structural components are
    V10_i = (rank of positive i among all rows - its rank among the positives) / n and
    V01_j = 1 - (rank of negative j among all rows - its rank among the negatives) / m (midranks count ties as
    half), and Var(AUC1 - AUC2) = (s10_11 + s10_22 - 2 s10_12) / m + (s01_11 + s01_22 - 2 s01_12) / n with s the
    sample covariances of the components across positives (s10) and negatives (s01)."""
    import numpy as np
    from scipy.stats import rankdata

    y = np.asarray(labels, dtype="float64").ravel()
    predictions = np.vstack([np.asarray(first, dtype="float64").ravel(), np.asarray(second, dtype="float64").ravel()])
    positive = y == 1
    m, n = int(positive.sum()), int((~positive).sum())
    if m < 2 or n < 2:
        raise ValueError(f"DeLong's test needs at least 2 positives and 2 negatives; the rows hold {m} and {n}")
    pos, neg = predictions[:, positive], predictions[:, ~positive]
    within_pos = rankdata(pos, axis=1)
    within_neg = rankdata(neg, axis=1)
    overall = rankdata(np.hstack([pos, neg]), axis=1)
    aucs = (overall[:, :m].sum(axis=1) / m - (m + 1) / 2) / n
    v10 = (overall[:, :m] - within_pos) / n
    v01 = 1 - (overall[:, m:] - within_neg) / m
    s10, s01 = np.cov(v10), np.cov(v01)
    contrast = np.array([1.0, -1.0])
    variance = float(contrast @ s10 @ contrast / m + contrast @ s01 @ contrast / n)
    return float(aucs[0]), float(aucs[1]), max(variance, 0.0)


def _scores(name: str, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """The metric of each row of p (resamples × rows) against the same rows of y: score()'s formulas, vectorised."""
    import numpy as np

    from .scoring import PROBABILITY_CLIP

    if name == "log_loss":
        clipped = np.clip(p, PROBABILITY_CLIP, 1 - PROBABILITY_CLIP)
        return -np.mean(y * np.log(clipped) + (1 - y) * np.log1p(-clipped), axis=1)
    if name == "accuracy":
        return np.mean((p >= 0.5) == (y == 1), axis=1)
    errors = p - y
    if name == "rmse":
        return np.sqrt(np.mean(errors**2, axis=1))
    if name == "mae":
        return np.mean(np.abs(errors), axis=1)
    if name == "r2":
        spread = np.sum((y - y.mean(axis=1, keepdims=True)) ** 2, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):  # a resample of one repeated label: no R², dropped
            return 1 - np.sum(errors**2, axis=1) / spread
    raise ValueError(f"no paired bootstrap for {name!r}")


def paired_bootstrap(
    metric: Metric, labels: Any, challenger: Any, champion: Any, confidence: float, seed: int = BOOTSTRAP_SEED
) -> tuple[float, float]:
    """The percentile interval at `confidence` of the challenger's gain over the champion (positive: better), from
    BOOTSTRAP_RESAMPLES paired resamples of the rows (each resample scores both models on the same rows)."""
    import numpy as np

    y = np.asarray(labels, dtype="float64").ravel()
    a = np.asarray(challenger, dtype="float64").ravel()
    b = np.asarray(champion, dtype="float64").ravel()
    rng = np.random.default_rng(seed)
    gains: list[np.ndarray] = []
    for start in range(0, BOOTSTRAP_RESAMPLES, _CHUNK):
        rows = rng.integers(0, len(y), size=(min(_CHUNK, BOOTSTRAP_RESAMPLES - start), len(y)))
        diff = _scores(metric.name, y[rows], a[rows]) - _scores(metric.name, y[rows], b[rows])
        gains.append(diff if metric.maximize else -diff)
    values = np.concatenate(gains)
    values = values[np.isfinite(values)]
    if not len(values):
        raise ValueError(f"no resample of the {len(y)} rows gives a {metric.name}")
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def compare(
    metric: Metric, labels: Any, challenger: Any, champion: Any, confidence: float = DEFAULT_CONFIDENCE
) -> Comparison:
    """The challenger's predictions against the champion's on the same labelled rows (see the module docstring)."""
    z = _z(confidence)
    ours = score(labels, challenger, (metric.name,))[metric.name]
    theirs = score(labels, champion, (metric.name,))[metric.name]
    gain = ours - theirs if metric.maximize else theirs - ours
    if metric.name == "auc":
        _, _, variance = delong(labels, challenger, champion)
        half = z * math.sqrt(variance)
        low, high, method = gain - half, gain + half, "DeLong"
    else:
        low, high = paired_bootstrap(metric, labels, challenger, champion, confidence)
        method = f"paired bootstrap, {BOOTSTRAP_RESAMPLES} resamples, seed {BOOTSTRAP_SEED}"
    return Comparison(metric.name, metric.direction, ours, theirs, gain, low, high, confidence, method)

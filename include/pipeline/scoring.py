"""The metrics a held-out window is scored with, which direction is better, and the scoring itself.

METRICS is what a spec may name in `evaluation`; each metric knows the labels it scores (binary 0/1 with
probabilities, or numeric with predicted values), whether higher or lower is better, and its range.
numpy and pandas are imported inside `score`, so the spec can read METRICS at DAG parse time for free.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# log(0) is -inf: a confident wrong answer costs log(1e-15) ≈ -34.5 instead of breaking the mean.
PROBABILITY_CLIP = 1e-15


@dataclass(frozen=True)
class Metric:
    name: str
    label: str  # "binary" or "numeric"
    direction: str  # "Maximize" or "Minimize"
    bounds: tuple[float | None, float | None]

    @property
    def maximize(self) -> bool:
        return self.direction == "Maximize"

    def better(self, a: float, b: float) -> bool:
        """Whether a is at least as good as b."""
        return a >= b if self.maximize else a <= b


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("auc", "binary", "Maximize", (0.0, 1.0)),
        Metric("log_loss", "binary", "Minimize", (0.0, None)),
        Metric("accuracy", "binary", "Maximize", (0.0, 1.0)),
        Metric("rmse", "numeric", "Minimize", (0.0, None)),
        Metric("mae", "numeric", "Minimize", (0.0, None)),
        Metric("r2", "numeric", "Maximize", (None, 1.0)),
    )
}


def check_predictions(kind: str, predictions: Any, rows: int) -> Any:
    """Predictions as a float array: one per row, probabilities in [0, 1] for binary labels, finite otherwise."""
    import numpy as np

    p = np.asarray(predictions, dtype="float64").ravel()
    if len(p) != rows:
        raise ValueError(f"{rows} rows but {len(p)} predictions")
    bad = (np.isnan(p) | (p < 0) | (p > 1)) if kind == "binary" else ~np.isfinite(p)
    if bad.any():
        what = "probabilities" if kind == "binary" else "numbers"
        raise ValueError(f"{int(bad.sum())} predictions are not {what}, e.g. {float(p[bad][0])!r}")
    return p


def score(labels: Any, predictions: Any, metrics: tuple[str, ...] | list[str] = ("auc", "log_loss")) -> dict[str, Any]:
    """Each named metric of the predictions against the labels, with the row count (and positives for binary)."""
    import numpy as np
    import pandas as pd

    kinds = {METRICS[name].label for name in metrics}
    if len(kinds) != 1:
        raise ValueError(f"metrics {list(metrics)} score different kinds of labels")
    kind = kinds.pop()
    y = np.asarray(labels, dtype="float64").ravel()
    p = check_predictions(kind, predictions, len(y))
    out: dict[str, Any] = {"rows": len(y)}
    if kind == "binary":
        if not np.isin(y, (0.0, 1.0)).all():
            raise ValueError("labels must be 0 or 1")
        positives = int(y.sum())
        negatives = len(y) - positives
        out["positives"] = positives
        if "auc" in metrics:
            if positives == 0 or negatives == 0:
                raise ValueError(
                    f"AUC is undefined: {len(y)} rows with {positives} positives and {negatives} negatives"
                )
            # Mann-Whitney U: average ranks give tied pairs half a win, without comparing every pair.
            ranks = pd.Series(p).rank(method="average").to_numpy()
            out["auc"] = float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))
        if "log_loss" in metrics:
            clipped = np.clip(p, PROBABILITY_CLIP, 1 - PROBABILITY_CLIP)
            out["log_loss"] = float(-np.mean(y * np.log(clipped) + (1 - y) * np.log1p(-clipped)))
        if "accuracy" in metrics:
            out["accuracy"] = float(np.mean((p >= 0.5) == (y == 1)))
        return out
    if not np.isfinite(y).all():
        raise ValueError("labels must be finite numbers")
    if not len(y):
        raise ValueError("no rows to score")
    errors = p - y
    if "rmse" in metrics:
        out["rmse"] = float(np.sqrt(np.mean(errors**2)))
    if "mae" in metrics:
        out["mae"] = float(np.mean(np.abs(errors)))
    if "r2" in metrics:
        spread = float(np.sum((y - y.mean()) ** 2))
        if spread == 0:
            raise ValueError("R² is undefined: every label is the same")
        out["r2"] = float(1 - np.sum(errors**2) / spread)
    return out

"""include.pipeline.comparison: DeLong's test and the paired bootstrap against reference computations and known
cases, and the promotion decision built on them (include.pipeline.champion.decide)."""

from __future__ import annotations

import numpy as np
import pytest

from include.pipeline.champion import decide
from include.pipeline.comparison import BOOTSTRAP_RESAMPLES, Comparison, _scores, compare, delong, paired_bootstrap
from include.pipeline.scoring import METRICS, score


def _reference_delong(labels: np.ndarray, first: np.ndarray, second: np.ndarray) -> float:
    """Var(AUC1 - AUC2) from DeLong et al. 1988's definitions, pair by pair: psi(x, y) = 1 if x > y, 1/2 if equal;
    V10(x_i) = mean_j psi(x_i, y_j) over negatives, V01(y_j) = mean_i psi(x_i, y_j) over positives; S10, S01 their
    2 x 2 sample covariances across positives and negatives; Var = L S10 L' / m + L S01 L' / n, L = (1, -1)."""
    components10, components01 = [], []
    for p in (first, second):
        pos, neg = p[labels == 1], p[labels == 0]
        psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
        components10.append(psi.mean(axis=1))
        components01.append(psi.mean(axis=0))
    m, n = len(components10[0]), len(components01[0])
    contrast = np.array([1.0, -1.0])
    s10, s01 = np.cov(np.vstack(components10)), np.cov(np.vstack(components01))
    return float(contrast @ s10 @ contrast / m + contrast @ s01 @ contrast / n)


def _two_models(seed: int, rows: int = 400, strength: tuple[float, float] = (1.0, 1.0), ties: bool = False):
    """Labels and two models' probabilities: a shared signal, each model's own noise, `strength` each."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(rows) < 0.3).astype(float)
    signal = labels - 0.3
    out = []
    for weight in strength:
        logit = weight * 2.0 * signal + rng.normal(0, 1.0, rows)
        p = 1 / (1 + np.exp(-logit))
        out.append(np.round(p, 1) if ties else p)
    return labels, out[0], out[1]


@pytest.mark.parametrize(("seed", "ties"), [(0, False), (1, False), (2, True), (3, True)])
def test_delong_matches_the_pairwise_definition(seed: int, ties: bool) -> None:
    labels, first, second = _two_models(seed, rows=150, strength=(1.0, 0.6), ties=ties)
    auc1, auc2, variance = delong(labels, first, second)
    assert auc1 == pytest.approx(score(labels, first, ("auc",))["auc"], abs=1e-12)
    assert auc2 == pytest.approx(score(labels, second, ("auc",))["auc"], abs=1e-12)
    assert variance == pytest.approx(_reference_delong(labels, first, second), rel=1e-9)
    assert variance > 0


def test_delong_intervals_cover_a_zero_difference_at_their_level() -> None:
    """Two equally good models (same signal strength, independent noise): the true AUC difference is 0, so a 90 %
    interval should contain 0 in about 90 % of data sets."""
    covered = 0
    trials = 300
    for seed in range(trials):
        labels, first, second = _two_models(seed, rows=300)
        c = compare(METRICS["auc"], labels, first, second, confidence=0.9)
        covered += c.low <= 0 <= c.high
    assert 0.85 <= covered / trials <= 0.95


@pytest.mark.parametrize("metric", ["auc", "log_loss", "accuracy"])
def test_identical_models_never_win(metric: str) -> None:
    labels, first, _ = _two_models(4)
    c = compare(METRICS[metric], labels, first, first.copy())
    assert (c.gain, c.low, c.high) == (0.0, 0.0, 0.0)
    assert not c.wins(0.0) and not c.wins(0.001)
    assert c.wins(-0.001)  # a negative margin prefers the fresh model, by the user's choice
    assert decide(METRICS[metric], c, 0.0)[0] == "champion"


def test_a_clearly_better_model_wins_and_a_clearly_worse_one_loses() -> None:
    labels, strong, weak = _two_models(5, rows=1500, strength=(1.5, 0.3))
    better = compare(METRICS["auc"], labels, strong, weak)
    assert better.gain > 0.1 and better.low > 0.05 and better.wins(0.002)
    worse = compare(METRICS["auc"], labels, weak, strong)
    assert worse.gain == pytest.approx(-better.gain) and worse.high < 0 and not worse.wins(0.0)


def test_a_small_gain_on_few_rows_is_not_enough() -> None:
    """The situation of the demo: one day of rows, a gain that the rows cannot tell from chance."""
    labels, first, second = _two_models(6, rows=200, strength=(1.05, 1.0))
    c = compare(METRICS["auc"], labels, first, second)
    assert c.low < 0 < c.high
    assert decide(METRICS["auc"], c, 0.002)[0] == "champion"


def test_minimize_metrics_count_a_lower_error_as_a_gain() -> None:
    rng = np.random.default_rng(7)
    truth = rng.normal(100, 20, 600)
    close = truth + rng.normal(0, 5, 600)
    far = truth + rng.normal(0, 15, 600)
    c = compare(METRICS["rmse"], truth, close, far)
    assert c.direction == "Minimize"
    assert c.challenger < c.champion and c.gain == pytest.approx(c.champion - c.challenger)
    assert c.low > 5 and c.wins(0.5)
    reverse = compare(METRICS["rmse"], truth, far, close)
    assert reverse.high < 0 and decide(METRICS["rmse"], reverse, 0.0)[0] == "champion"
    assert compare(METRICS["mae"], truth, close, far).wins(0.0)
    assert compare(METRICS["r2"], truth, close, far).wins(0.0)  # r2 points up


def test_the_bootstrap_is_seeded_and_widens_with_confidence() -> None:
    labels, first, second = _two_models(8)
    once = paired_bootstrap(METRICS["log_loss"], labels, first, second, 0.9)
    assert once == paired_bootstrap(METRICS["log_loss"], labels, first, second, 0.9)
    wide = paired_bootstrap(METRICS["log_loss"], labels, first, second, 0.99)
    assert wide[0] < once[0] < once[1] < wide[1]
    assert BOOTSTRAP_RESAMPLES >= 1000


@pytest.mark.parametrize("metric", ["log_loss", "accuracy", "rmse", "mae", "r2"])
def test_the_vectorised_metrics_are_scores_formulas(metric: str) -> None:
    rng = np.random.default_rng(9)
    if METRICS[metric].label == "binary":
        labels, predictions, _ = _two_models(9, rows=50)
    else:
        labels, predictions = rng.normal(size=50), rng.normal(size=50)
    rows = rng.integers(0, 50, size=(3, 50))
    vectorised = _scores(metric, labels[rows], predictions[rows])
    for i in range(3):
        assert vectorised[i] == pytest.approx(score(labels[rows[i]], predictions[rows[i]], (metric,))[metric])


def test_decide_states_both_scores_the_gain_its_interval_and_the_rule() -> None:
    c = Comparison("auc", "Maximize", 0.6704, 0.5957, 0.0747, 0.031, 0.118, 0.9, "DeLong")
    winner, reason = decide(METRICS["auc"], c, 0.002)
    assert winner == "challenger"
    for part in ("0.6704", "0.5957", "+0.0747", "90 % interval [+0.0310, +0.1180]", "DeLong", "margin 0.0020"):
        assert part in reason
    assert decide(METRICS["auc"], c, 0.05)[0] == "champion"
    assert decide(METRICS["auc"], None, 0.0) == ("challenger", "no champion yet")


@pytest.mark.parametrize(("confidence", "message"), [(1.0, "confidence"), (0.0, "confidence")])
def test_bad_confidence_and_too_few_rows_are_refused(confidence: float, message: str) -> None:
    labels, first, second = _two_models(10, rows=50)
    with pytest.raises(ValueError, match=message):
        compare(METRICS["auc"], labels, first, second, confidence=confidence)
    with pytest.raises(ValueError, match="at least 2 positives"):
        delong(np.array([1.0, 0.0, 0.0, 0.0]), np.array([0.9, 0.1, 0.2, 0.3]), np.array([0.8, 0.2, 0.1, 0.3]))

"""include.pipeline.champion in-process: scoring, decisions and the history's records, on synthetic values."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from include.pipeline.champion import champion_for, record_key
from include.pipeline.scoring import score

HOLDOUT_DATE = "2013-01-05"


# ------------------------------------------------------------------------------------------------ score


def _pairwise_auc(labels: np.ndarray, probabilities: np.ndarray) -> float:
    positives, negatives = probabilities[labels == 1], probabilities[labels == 0]
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


@pytest.mark.parametrize("seed", range(5))
def test_score_matches_pairwise_auc_and_the_log_loss_formula(seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=60)
    labels[:2] = (0, 1)
    # One decimal makes many ties, which count half.
    probabilities = np.round(rng.uniform(size=60), 1)
    result = score(labels, probabilities, ("auc", "log_loss"))
    assert result["auc"] == pytest.approx(_pairwise_auc(labels, probabilities), abs=1e-12)
    clipped = np.clip(probabilities, 1e-15, 1 - 1e-15)
    expected = -np.mean(labels * np.log(clipped) + (1 - labels) * np.log(1 - clipped))
    assert result["log_loss"] == pytest.approx(expected, rel=1e-12)
    assert (result["rows"], result["positives"]) == (60, int(labels.sum()))


def test_score_perfect_reversed_and_confidently_wrong() -> None:
    assert score([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])["auc"] == 1.0
    assert score([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9])["auc"] == 0.0
    assert score([0, 1], [0.5, 0.5])["auc"] == 0.5
    # Clipping keeps a certain and wrong answer finite: about -log(1e-15) per row (1 - 1e-15 is not exact).
    assert score([0, 1], [1.0, 0.0])["log_loss"] == pytest.approx(-np.log(1e-15), rel=1e-4)


@pytest.mark.parametrize(
    ("labels", "probabilities", "message"),
    [
        ([0, 1], [0.2, float("nan")], "1 predictions are not probabilities, e.g. nan"),
        ([0, 1], [0.2, 1.5], "1 predictions are not probabilities, e.g. 1.5"),
        ([0, 1], [-0.1, 0.5], "1 predictions are not probabilities"),
        ([0, 1, 1], [0.2, 0.5], "3 rows but 2 predictions"),
        ([1, 1, 1], [0.2, 0.5, 0.7], "AUC is undefined.*0 negatives"),
        ([0, 0], [0.2, 0.5], "AUC is undefined.*0 positives"),
        ([0, 2], [0.2, 0.5], "labels must be 0 or 1"),
    ],
)
def test_score_rejects_bad_input(labels: list[int], probabilities: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        score(labels, probabilities)


# ------------------------------------------------------------------------------------------- history


def test_record_key_is_deterministic_safe_and_distinct_per_run() -> None:
    run_id = "scheduled__2013-01-05T00:00:00+00:00"
    key = record_key("history/", HOLDOUT_DATE, run_id)
    assert key == record_key("history", HOLDOUT_DATE, run_id)
    assert key.startswith(f"history/{HOLDOUT_DATE}/scheduled__2013-01-05T00-00-00-00-00-")
    assert key.endswith(".json")
    run_key = key.rsplit("/", 1)[1]
    assert all(c.isalnum() or c in "._-" for c in run_key)
    assert key != record_key("history", HOLDOUT_DATE, "scheduled__2013-01-05T00:00:00-00:00")
    for date in ("05/01/2013", "20130105"):
        with pytest.raises(ValueError):
            record_key("history", date, run_id)


def test_champion_for_live_and_backfill() -> None:
    def record(date: str, hour: int, winner: str, **fields: Any) -> dict[str, Any]:
        return {"holdout_date": date, "evaluated_at": f"{date}T{hour:02d}:00:00", "winner": winner, **fields}

    served_before = record("2013-01-02", 6, "challenger", deployed=True)
    won_on_3rd = record("2013-01-03", 6, "challenger")
    lost_on_4th = record("2013-01-04", 6, "champion")
    won_on_5th = record("2013-01-05", 6, "challenger")
    served_now = record("2013-01-06", 6, "challenger", deployed=True)
    rolled_back = record("2013-01-07", 6, "challenger", deployed=True, rolled_back=True)
    history = [served_before, won_on_3rd, lost_on_4th, won_on_5th, served_now, rolled_back]

    # Backfill: the latest winner strictly before the day; losers and the day itself (or later) do not count.
    assert champion_for(history, "2013-01-05", live=False) is won_on_3rd
    assert champion_for(history, "2013-01-06", live=False) is won_on_5th
    assert champion_for(history, "2013-01-02", live=False) is None
    # Live: whatever serves now, whatever the date; a rolled-back model does not.
    assert champion_for(history, "2013-01-05", live=True) is served_now
    assert champion_for(history, "2013-01-01", live=True) is served_now
    assert champion_for([won_on_3rd], "2013-01-05", live=True) is None
    assert champion_for([], "2013-01-05", live=False) is None

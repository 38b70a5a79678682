"""Promotion over a year of nightly runs: which validation window to pick on, and which rule to promote by (issue 21).

For every held-out day D of the 2013 backfill (2013-02-01..2013-12-31, as benchmarks/backfill_year.py runs it) and
every validation window v in WINDOWS, the nightly run is reproduced in-process: the days come from
include/pipeline/prepare.Window.ending(D, 14, v) (train on the 14 days before the v validation days, hold out D),
the rows from the flight spec's own source and encoding, and the tuning job is hpo_nightly's (the spec's Bayesian
ranges, 20 jobs, 2 in flight, num_round 100, a RandomSeed per day) run by the service's own decision loop
(harness/tuning_simulation.simulate), each job training train.py's booster on the day's rows. The pick is the job
with the best validation AUC, what evaluate_model would receive; it is trained again (XGBoost is deterministic with
one thread) and kept. Each (D, v) is saved to --work-dir as it finishes, so a cut-short run resumes.

Item 2, the window: per v, the pick's AUC on D (the model each window would deploy), paired over days against
v = 1 (today's nightly default), with a 95 % moving-block bootstrap interval of the mean difference (blocks of
BLOCK days: neighbouring days share most of their training rows), and the training seconds per tuning job.

Item 3, the rule: on one window's picks, four promotion rules run over the year, each with its own serving model:
always (every challenger replaces the champion), margin (today's rule before the interval: gain on D >= the spec's
margin), interval (include/pipeline/comparison.py, the shipped rule: the lower end of the 90 % interval of the
paired gain above the margin) and never (the first pick serves all year). The model serving after day D's decision
serves D + 1 and is scored on D + 1's rows, which no run had seen yet. Per rule: the mean AUC served, deployments,
the worst 30-day stretch (the lowest 30-day mean), and the paired daily difference from the interval rule with its
block-bootstrap interval. Goal: the interval rule serves at least as well as the best other rule, with fewer
deployments than always and margin. The rules run on each window's picks (three candidate streams over the same
days); pooled, the daily difference is averaged over the windows before the bootstrap. Also: the interval rule at
other confidence levels on the shipped window's picks, and how many days an interval of +-0.001 on the
interval - margin difference would take at the measured day-to-day spread (the width of a mean's interval shrinks
with the square root of the days).

    .venv/bin/python -m benchmarks.promotion [--from 2013-02-01] [--to 2013-12-31] [--windows 1,3,7]
        [--confidences 0.5,0.75,0.9,0.95] [--processes 2] [--work-dir DIR] [--output benchmarks/results/promotion.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import RESULTS_DIR, header, save_results
from include.progress import progress

RESULTS = RESULTS_DIR / "promotion.md"
PLOT = RESULTS_DIR / "promotion.png"
WORK_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "hpo-benchmarks" / "promotion"
FIRST, LAST = dt.date(2013, 2, 1), dt.date(2013, 12, 31)
WINDOWS = (1, 3, 7)
BASELINE_WINDOW = 1  # hpo_nightly's validation_days today
STRETCH = 30  # days: the worst stretch of serving quality
BLOCK = 7  # days per block of the moving-block bootstrap
RESAMPLES = 10_000
SEED = 21
RULES = ("always", "margin", "interval", "never")
CONFIDENCES = (0.5, 0.75, 0.9, 0.95)
PRECISION = 0.001  # AUC: the half-width of an interval on interval - margin worth asking for


# ----------------------------------------------------------------------------------------------- the days


class Year:
    """The flight spec's rows for the whole span, encoded once, by day."""

    def __init__(self, first: dt.date, last: dt.date) -> None:
        from benchmarks.search_quality import FLIGHT
        from include.models.flight_delay import rows
        from include.pipeline.data import encode

        frame = rows(first, last)
        labels, features = encode(FLIGHT, frame)
        dates = frame["date"].to_numpy()
        self.days: dict[dt.date, tuple[np.ndarray, np.ndarray]] = {}
        for day in sorted(set(dates)):
            mask = dates == day
            self.days[dt.date.fromisoformat(str(day))] = (features[mask], labels[mask].astype(np.int64))

    def part(self, days: tuple[dt.date, ...]) -> tuple[np.ndarray, np.ndarray]:
        x = np.vstack([self.days[d][0] for d in days if d in self.days])
        y = np.concatenate([self.days[d][1] for d in days if d in self.days])
        return x, y


_year: Year | None = None


def _init(first: dt.date, last: dt.date) -> None:
    global _year
    _year = Year(first, last)


def _path(work_dir: Path, day: dt.date, window: int) -> Path:
    return work_dir / f"v{window}" / f"{day.isoformat()}.json"


def tune_day(task: tuple[dt.date, int, str]) -> str:
    """One nightly run: the tuning job on (D, v) and its pick, saved as JSON (the booster inside, base64)."""
    import base64

    import xgboost as xgb

    from benchmarks.search_quality import XGBoostObjective, tuning_job
    from harness.tuning_simulation import simulate
    from include.pipeline.prepare import Window

    day, window, work_dir = task
    assert _year is not None
    days = Window.ending(day, 14, window)
    splits = {
        "train": _year.part(days.train_days),
        "validation": _year.part(days.validation_days),
        "test": _year.part(days.holdout_days),
    }
    objective = XGBoostObjective("flights", "XGBoost, flight delays", splits)
    started = time.process_time()
    seed = int(day.strftime("%Y%m%d")) % 100_000
    records = simulate(tuning_job(objective, "Bayesian", 20, seed), objective)
    tuning_seconds = time.process_time() - started
    best = max(records, key=lambda r: r.value)
    booster = xgb.train(
        objective.params(best.hyperparameters), objective.data["train"], num_boost_round=objective.rounds
    )
    out = {
        "day": day.isoformat(),
        "window": window,
        "seed": seed,
        "jobs": [[r.hyperparameters, r.value, r.test] for r in records],
        "pick": best.hyperparameters,
        "validation_auc": best.value,
        "tuning_cpu_seconds": tuning_seconds,
        "train_rows": int(splits["train"][1].size),
        "booster": base64.b64encode(bytes(booster.save_raw("ubj"))).decode(),
    }
    path = _path(Path(work_dir), day, window)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(out))
    tmp.replace(path)
    return str(path)


# ------------------------------------------------------------------------------------------ the analysis


@dataclass
class Pick:
    day: dt.date
    window: int
    booster: Any
    validation_auc: float
    tuning_cpu_seconds: float


def load_pick(path: Path) -> Pick:
    import base64

    import xgboost as xgb

    raw = json.loads(path.read_text())
    booster = xgb.Booster()
    booster.load_model(bytearray(base64.b64decode(raw["booster"])))
    booster.set_param({"nthread": 1})
    day = dt.date.fromisoformat(raw["day"])
    return Pick(day, raw["window"], booster, raw["validation_auc"], raw["tuning_cpu_seconds"])


class Scores:
    """Predictions of a pick on a day's rows, computed once."""

    def __init__(self, year: Year) -> None:
        self.year = year
        self._cache: dict[tuple[dt.date, int, dt.date], np.ndarray] = {}

    def predictions(self, pick: Pick, day: dt.date) -> np.ndarray:
        import xgboost as xgb

        key = (pick.day, pick.window, day)
        if key not in self._cache:
            x, _ = self.year.days[day]
            self._cache[key] = pick.booster.predict(xgb.DMatrix(x, missing=np.nan))
        return self._cache[key]

    def auc(self, pick: Pick, day: dt.date) -> float:
        from include.pipeline.scoring import score

        return score(self.year.days[day][1], self.predictions(pick, day), ("auc",))["auc"]


def block_interval(diffs: list[float]) -> tuple[float, float]:
    """95 % moving-block bootstrap interval of the mean of a daily series (blocks of BLOCK days, seeded)."""
    values = np.asarray(diffs, dtype=float)
    n = len(values)
    block = BLOCK if n >= 4 * BLOCK else 1  # a short smoke run: the plain bootstrap
    rng = np.random.default_rng(SEED)
    starts = rng.integers(0, n - block + 1, size=(RESAMPLES, -(-n // block)))
    index = (starts[:, :, None] + np.arange(block)[None, None, :]).reshape(RESAMPLES, -1)[:, :n]
    means = values[index].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def paired_difference(ours: list[float], theirs: list[float]) -> str:
    """ "mean | [low, high]" cells of the mean daily difference ours - theirs and its block-bootstrap interval."""
    diffs = [a - b for a, b in zip(ours, theirs, strict=True)]
    low, high = block_interval(diffs)
    return f"{statistics.fmean(diffs):+.4f} | [{low:+.4f}, {high:+.4f}]"


def serve(rule: str, picks: list[Pick], scores: Scores, margin: float, confidence: float) -> dict[str, Any]:
    """The year under one rule: the serving model after each day's decision, scored on the next day."""
    from include.pipeline.comparison import compare
    from include.pipeline.scoring import METRICS

    auc = METRICS["auc"]
    serving = picks[0]
    deployments = 1
    served: list[float] = []
    for today, tomorrow in zip(picks, picks[1:], strict=False):
        if today is not serving:
            labels = scores.year.days[today.day][1]
            challenger, champion = scores.predictions(today, today.day), scores.predictions(serving, today.day)
            if rule == "always":
                promote = True
            elif rule == "never":
                promote = False
            elif rule == "margin":
                promote = scores.auc(today, today.day) - scores.auc(serving, today.day) >= margin
            else:
                promote = compare(auc, labels, challenger, champion, confidence).wins(margin)
            if promote:
                serving, deployments = today, deployments + 1
        served.append(scores.auc(serving, tomorrow.day))
    stretches = [statistics.fmean(served[i : i + STRETCH]) for i in range(max(1, len(served) - STRETCH + 1))]
    return {"served": served, "deployments": deployments, "mean": statistics.fmean(served), "worst": min(stretches)}


def window_table(picks: dict[int, list[Pick]], scores: Scores) -> tuple[list[str], dict[int, dict[str, Any]]]:
    base = picks[BASELINE_WINDOW]
    lines = [
        "| validation days | mean held-out AUC of the pick | vs 1 day: mean difference "
        "| 95 % interval (block bootstrap) | days better | tuning CPU s per run |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    stats: dict[int, dict[str, Any]] = {}
    for window, series in sorted(picks.items()):
        held = [scores.auc(p, p.day) for p in series]
        diffs = [h - scores.auc(b, b.day) for h, b in zip(held, base, strict=True)]
        low, high = block_interval(diffs)
        cpu = statistics.fmean(p.tuning_cpu_seconds for p in series)
        stats[window] = {"mean": statistics.fmean(held), "diff": statistics.fmean(diffs), "low": low, "high": high}
        stats[window] |= {"better": sum(d > 0 for d in diffs), "cpu": cpu}
        lines.append(
            f"| {window} | {stats[window]['mean']:.4f} | {stats[window]['diff']:+.4f} | [{low:+.4f}, {high:+.4f}] "
            f"| {stats[window]['better']}/{len(diffs)} | {cpu:.0f} |"
        )
    return lines, stats


def rule_table(results: dict[str, dict[str, Any]]) -> list[str]:
    ours = results["interval"]["served"]
    lines = [
        "| rule | mean AUC served | deployments | worst 30-day mean | interval rule − this rule: mean daily "
        "difference | 95 % interval (block bootstrap) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for rule in RULES:
        r = results[rule]
        diff_cells = "| |" if rule == "interval" else f"{paired_difference(ours, r['served'])} |"
        lines.append(f"| {rule} | {r['mean']:.4f} | {r['deployments']} | {r['worst']:.4f} | {diff_cells}")
    return lines


def plot(results: dict[str, dict[str, Any]], days: list[dt.date], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4.2), dpi=110)
    for rule in RULES:
        served = np.asarray(results[rule]["served"])
        width = min(STRETCH, len(served))  # a short smoke run draws its days' mean
        count = results[rule]["deployments"]
        rolling = np.convolve(served, np.ones(width) / width, mode="valid")
        ax.plot(  # dates on x: matplotlib's units registry takes them, its type stubs do not say so
            days[width - 1 : width - 1 + len(rolling)],  # type: ignore[arg-type]
            rolling,
            label=f"{rule} ({count} deployment{'' if count == 1 else 's'})",
        )
    ax.set_ylabel(f"held-out AUC served, {STRETCH}-day mean")
    ax.set_title("The model serving each day under each promotion rule (flights, 2013)")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def pooled_table(by_window: dict[int, dict[str, dict[str, Any]]]) -> list[str]:
    """interval − each other rule with the daily differences averaged over the windows' picks, and the days an
    interval of +-PRECISION would need at the measured spread (a mean's interval narrows as 1/sqrt(days))."""
    lines = [
        "| interval rule − | mean daily difference, pooled over the windows | 95 % interval (block bootstrap) "
        f"| days better | days for ±{PRECISION} |",
        "|---|---:|---:|---:|---:|",
    ]
    for rule in RULES:
        if rule == "interval":
            continue
        daily = np.mean([np.subtract(r["interval"]["served"], r[rule]["served"]) for r in by_window.values()], axis=0)
        low, high = block_interval(list(daily))
        needed = len(daily) * ((high - low) / 2 / PRECISION) ** 2
        lines.append(
            f"| {rule} | {float(np.mean(daily)):+.4f} | [{low:+.4f}, {high:+.4f}] | {int(np.sum(daily > 0))}/"
            f"{int(np.sum(daily != 0))} | {needed:,.0f} |"
        )
    return lines


def confidence_table(
    picks: list[Pick], scores: Scores, margin: float, levels: tuple[float, ...], margin_only: list[float]
) -> list[str]:
    """The interval rule at other confidence levels, against margin only (its served AUCs), on one window's picks."""
    lines = [
        "| confidence | mean AUC served | deployments | worst 30-day mean | − margin only: mean daily difference "
        "| 95 % interval (block bootstrap) |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for level in levels:
        r = serve("interval", picks, scores, margin, level)
        lines.append(
            f"| {level:.0%} | {r['mean']:.4f} | {r['deployments']} | {r['worst']:.4f} | "
            f"{paired_difference(r['served'], margin_only)} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="first", type=dt.date.fromisoformat, default=FIRST)
    parser.add_argument("--to", dest="last", type=dt.date.fromisoformat, default=LAST)
    parser.add_argument("--windows", type=lambda s: tuple(int(x) for x in s.split(",")), default=WINDOWS)
    parser.add_argument("--confidences", type=lambda s: tuple(float(x) for x in s.split(",")), default=CONFIDENCES)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--work-dir", type=Path, default=WORK_DIR, help="each (day, window) result; reused on a re-run")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    from benchmarks.search_quality import FLIGHT

    days = [args.first + dt.timedelta(days=i) for i in range((args.last - args.first).days + 1)]
    earliest = args.first - dt.timedelta(days=14 + max(args.windows))
    tasks = [(d, w, str(args.work_dir)) for w in args.windows for d in days if not _path(args.work_dir, d, w).is_file()]
    started = time.perf_counter()
    if tasks:
        with multiprocessing.get_context("fork").Pool(args.processes, _init, (earliest, args.last)) as pool:
            for _ in progress(pool.imap_unordered(tune_day, tasks), total=len(tasks), desc="nightly runs", unit="run"):
                pass
    wall = time.perf_counter() - started
    year = Year(earliest, args.last)
    scores = Scores(year)
    picks = {w: [load_pick(_path(args.work_dir, d, w)) for d in days] for w in args.windows}
    window_lines, window_stats = window_table(picks, scores)
    margin, confidence = FLIGHT.evaluation.margin, FLIGHT.evaluation.confidence
    default = FLIGHT.tuning.get("validation_days", BASELINE_WINDOW)
    shipped = default if default in picks else min(picks)
    by_window = {w: {rule: serve(rule, picks[w], scores, margin, confidence) for rule in RULES} for w in picks}
    rules: list[str] = []
    for window in sorted(picks, key=lambda w: (w != shipped, w)):
        shipped_note = " (the flight spec's default)" if window == shipped else ""
        rules += [f"### On the {window}-day window's picks{shipped_note}", "", *rule_table(by_window[window]), ""]
    plot(by_window[shipped], days[1:], PLOT if args.output == RESULTS else args.output.with_suffix(".png"))
    text = "\n".join(
        [
            *header("Promotion over a year of nightly runs (flights)"),
            f"- days: {days[0]}..{days[-1]} ({len(days)} nightly runs per window); tuning runs computed now: "
            f"{len(tasks)} in {wall / 60:.1f} min on {args.processes} processes (the rest reused from the work dir)",
            "- per run: hpo_nightly's tuning job reproduced in-process (Bayesian, 20 jobs, 2 in flight, num_round "
            "100, the spec's ranges; the service's decision loop; train.py's booster), 14 training days before the "
            "validation days; the pick (best validation AUC) scored on the held-out day D",
            f"- intervals: 95 % moving-block bootstrap of a mean over days (blocks of {BLOCK} days, "
            f"{RESAMPLES:,} resamples, seed {SEED})",
            "",
            "## Which validation window to pick on (item 2)",
            "",
            *window_lines,
            "",
            "## Promotion rules over the year (item 3)",
            "",
            f"margin {margin}, interval rule at {confidence:.0%} (include/pipeline/comparison.py). The model serving "
            "after day D's decision is scored on D + 1.",
            "",
            *rules,
            f"### Pooled over the {len(picks)} windows' picks",
            "",
            *pooled_table(by_window),
            "",
            f"### The interval rule's confidence level, on the {shipped}-day window's picks",
            "",
            *confidence_table(picks[shipped], scores, margin, args.confidences, by_window[shipped]["margin"]["served"]),
            "",
            f"![{STRETCH}-day mean of the held-out AUC served under each rule, {shipped}-day window]({PLOT.name})",
            "",
        ]
    )
    print(text)
    save_results(args.output, text)


if __name__ == "__main__":
    main()

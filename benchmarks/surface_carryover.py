"""How much of one day's tuning surface carries over to the next: the same configurations on consecutive days.

A TransferLearning retune can only be as good as the parents' days predict the child's. This runs one Random
tuning job per holdout day with the same RandomSeed, so every day trains the same N hyperparameter
configurations (training_scripts/flight_delay/train.py, the DAG's ranges and data preparation, validation_days 7 as
hpo_on_new_data), and reports how the days agree: correlations of the N validation AUCs between day pairs, and
where each day's best configuration lands on the next day.

    .venv/bin/python -m benchmarks.surface_carryover [--start 2013-04-04] [--days 3] [--jobs 40]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from benchmarks.common import RESULTS_DIR, header, save_results
from benchmarks.warm_start import FLIGHT, NIGHTLY, RETUNE, TUNING_TIMEOUT, Bench, local_bench
from harness.local_sagemaker import wait_for_tuning
from include.pipeline.params import RunParams
from include.pipeline.tuning_config import tuning_request

RESULTS = RESULTS_DIR / "warm_start_carryover.md"
SEED = 7


def surface(bench: Bench, day: dt.date, jobs: int) -> dict[tuple[tuple[str, str], ...], float]:
    """Validation AUC by configuration (the tuned hyperparameters) of one Random tuning job on `day`."""
    name = f"carry-{day:%Y%m%d}"
    run = RunParams.from_params({**NIGHTLY, "strategy": "Random", "max_jobs": jobs, "random_seed": SEED}, FLIGHT)
    request = tuning_request(FLIGHT, name, run, bench.definition(day))
    bench.sm.create_hyper_parameter_tuning_job(**request)
    wait_for_tuning(bench.sm, name, TUNING_TIMEOUT)
    return {
        tuple(sorted(s["TunedHyperParameters"].items())): s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
        for s in bench.summaries(name)
        if "FinalHyperParameterTuningJobObjectiveMetric" in s
    }


def report(days: list[dt.date], values: np.ndarray) -> list[str]:
    """values[i, d]: configuration i on day d (configurations every day ran)."""
    n = len(values)
    lines = [
        "| day pair | days apart | Pearson r | Spearman ρ | first day's best: rank on the second (of "
        f"{n}) | its AUC below the second day's best | first day's top 5: median rank on the second |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for a in range(len(days)):
        for b in range(a + 1, len(days)):
            x, y = values[:, a], values[:, b]
            top = np.argsort(-x)
            rank_on_b = [int((y > y[i]).sum()) + 1 for i in top[:5]]
            pearson, rho = np.corrcoef(x, y)[0, 1], spearmanr(x, y).statistic
            lines.append(
                f"| {days[a]} → {days[b]} | {b - a} | {pearson:.2f} | {rho:.2f} | "
                f"{rank_on_b[0]} | {y.max() - y[top[0]]:.4f} | {np.median(rank_on_b):g} |"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2013, 4, 4), help="first holdout day")
    parser.add_argument("--days", type=int, default=3, help="consecutive holdout days (default 3)")
    parser.add_argument("--jobs", type=int, default=40, help="configurations per day (default 40)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    days = [args.start + dt.timedelta(days=i) for i in range(args.days)]
    validation_days = RETUNE["validation_days"]
    started = time.perf_counter()
    surfaces = []
    with local_bench(days[0], days[-1], validation_days, None) as (bench, _):
        for day in days:
            surfaces.append(surface(bench, day, args.jobs))
            print(f"{day}: {len(surfaces[-1])} jobs, best {max(surfaces[-1].values()):.4f}", file=sys.stderr)
    common = sorted(set.intersection(*(set(s) for s in surfaces)))
    values = np.array([[s[c] for s in surfaces] for c in common])
    lines = report(days, values)
    wall = time.perf_counter() - started
    spread = [float(values[:, d].max() - np.median(values[:, d])) for d in range(len(days))]
    body = [
        *header("How much of a day's tuning surface carries over to the next"),
        f"- wall {wall / 60:.1f} min",
        f"- per holdout day, one Random tuning job of training_scripts/flight_delay/train.py, {args.jobs} jobs, "
        f"RandomSeed {SEED}: "
        f"the same {len(common)} configurations every day, on the DAG's ranges, validation_days {validation_days} "
        "and training_window_days 14 (hpo_on_new_data's defaults), so consecutive days share 6 of 7 validation "
        "days and 13 of 14 training days",
        f"- best minus median configuration per day: {', '.join(f'{s:.4f}' for s in spread)}",
        "",
        *lines,
        "",
    ]
    print("\n".join(body))
    save_results(args.output, "\n".join(body))


if __name__ == "__main__":
    main()

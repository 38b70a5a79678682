"""Whether the search suite's verdicts hold beyond the values the search saw (issue 23's "best@20 >= Random@50").

A search is scored on the configuration it names best by the values it was told. The suite's XGBoost objectives are
deterministic 3-fold cross-validated metrics on folds drawn by seed 0 (XGBoost's own seed 0): when two arms' picks
differ by less than the folds' own noise, the verdict says which pick suits these folds, not which is better. This
re-scores the picks of saved suite runs (`search_suite --runs DIR`) beyond what the search saw: an XGBoost pick on
SPLITS fresh splits (folds and XGBoost seed 1..SPLITS, everything else the same; seed 0 reproduces the suite's
value, checked), a synthetic pick by its noise-free value (the record's `test`). Per objective:

- noise: the sd over fresh splits of one pick's value (mean over picks; synthetic: the curves' noise sd), against
  the sd over search seeds of the Random@50 picks' values: how much of the spread the goal compares is noise;
- for each comparison (Bayesian@20 against Random@50; against each --against arm at 20 and at 50 jobs): pairs >= 0
  on the values the search saw and beyond them (the fresh splits' mean; the noise-free value), how often the two
  verdicts agree, and the paired difference beyond them with its bootstrap interval and Wilcoxon p.

    .venv/bin/python -m benchmarks.suite_noise [--runs DIR ...] [--objectives hmda,oj] [--seeds 20] [--splits 10]
        [--against Random,TPE]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS_DIR, header, save_results
from benchmarks.search_suite import (
    JOBS,
    RUNS,
    best_job,
    bootstrap_mean,
    fmt,
    load_runs,
    objective_named,
    wilcoxon_p,
    wilson,
)
from benchmarks.suite_objectives import OBJECTIVES, SyntheticObjective, XGBoostObjective
from include.progress import progress

RESULTS = RESULTS_DIR / "search_suite_noise.md"
SPLITS = 10  # fresh splits per XGBoost pick: the mean's own noise is about sd / 3
Pick = tuple[str, int]  # (arm, n): the job an arm's tuning job names best after n jobs


def comparisons(against: list[str]) -> list[tuple[Pick, Pick]]:
    """Bayesian@20 against Random@50 (the issue's goal), then Bayesian against each arm at 20 and at 50 jobs."""
    pairs = [(("Bayesian", 20), ("Random", 50))] if "Random" in against else []
    for arm in against:
        pairs += [(("Bayesian", 20), (arm, 20)), (("Bayesian", 50), (arm, 50))]
    return pairs


@dataclass(frozen=True)
class Task:
    objective: str
    seed: int
    picks: dict[Pick, dict[str, str]]  # hyperparameters of each pick
    values: dict[Pick, float]  # the same picks' values as the suite scored them
    tests: dict[Pick, float]  # and their records' test values (synthetic: noise-free)
    splits: int


def rescore(task: Task) -> dict[str, Any]:
    """Every pick of one (objective, seed) on split 0 (a check) and on the fresh splits, a point scored once; a
    synthetic pick by its noise-free value."""
    objective = objective_named(task.objective)
    if not isinstance(objective, XGBoostObjective):
        return {"objective": task.objective, "seed": task.seed, "fresh": {p: [v] for p, v in task.tests.items()}}
    scored: dict[str, list[float]] = {}
    fresh: dict[Pick, list[float]] = {}
    drift = 0.0
    for pick, hyperparameters in task.picks.items():
        key = repr(sorted(hyperparameters.items()))
        if key not in scored:
            scored[key] = [objective.on_split(hyperparameters, seed) for seed in range(task.splits + 1)]
        drift = max(drift, abs(scored[key][0] - task.values[pick]))
        fresh[pick] = scored[key][1:]
    return {"objective": task.objective, "seed": task.seed, "fresh": fresh, "drift": drift}


def saved_runs(directories: list[Path]) -> dict[str, list[dict[str, Any]]]:
    """The saved suite tasks by objective, each objective's from the first directory that has it."""
    results: dict[str, list[dict[str, Any]]] = {}
    for directory in directories:
        for name, saved in load_runs(directory, list(OBJECTIVES), JOBS).items():
            results.setdefault(name, saved)
    return results


def tasks_from(
    results: dict[str, list[dict[str, Any]]], names: list[str], picks: list[Pick], seeds: int, splits: int
) -> list[Task]:
    tasks = []
    for name in names:
        saved = [t for t in results.get(name, []) if t["seed"] < seeds and all(a in t["runs"] for a, _ in picks)]
        if len(saved) < seeds:
            raise LookupError(f"{len(saved)} of {seeds} seeds of {name} hold the arms {sorted({a for a, _ in picks})}")
        for t in saved:
            best = {(arm, n): best_job(t["runs"][arm], n) for arm, n in picks}
            tasks.append(
                Task(
                    name,
                    t["seed"],
                    {pick: job["hyperparameters"] for pick, job in best.items()},
                    {pick: job["value"] for pick, job in best.items()},
                    {pick: job["test"] for pick, job in best.items()},
                    splits,
                )
            )
    return tasks


def report(
    tasks: list[Task], rescored: list[dict[str, Any]], pairs: list[tuple[Pick, Pick]], splits: int, wall: float
) -> list[str]:
    by_key = {(r["objective"], r["seed"]): r for r in rescored}
    names = list(dict.fromkeys(t.objective for t in tasks))
    first, reference = pairs[0]  # Bayesian@20 and Random@50 when Random is compared
    label = f"{reference[0]}@{reference[1]}"
    noise_lines = [
        "| objective | metric | noise: sd of one pick's value (XGBoost: over fresh splits, mean over picks) "
        f"| sd of {label}'s pick over search seeds, values seen | the same, beyond the search "
        f"| {first[0]}@{first[1]} − {label}, values seen, mean |",
        "|---|---|---:|---:|---:|---:|",
    ]
    rows = [
        "| comparison | objective | pairs ≥ 0, values seen | pairs ≥ 0, beyond the search | verdicts agree | beyond: "
        "mean difference | 95 % bootstrap interval | Wilcoxon p |",
        "|---|---|---:|---:|---:|---:|---|---:|",
    ]
    pooled: dict[tuple[Any, ...], list[int]] = {}
    for name in names:
        mine = [t for t in tasks if t.objective == name]
        fresh = [by_key[(t.objective, t.seed)]["fresh"] for t in mine]
        objective = objective_named(name)
        if isinstance(objective, SyntheticObjective):
            noise = objective.noise
        else:
            noise = statistics.mean(statistics.stdev(values) for f in fresh for values in f.values())
        r50_suite = statistics.stdev(t.values[reference] for t in mine)
        r50_fresh = statistics.stdev(statistics.mean(f[reference]) for f in fresh)
        gap = statistics.mean(t.values[first] - t.values[reference] for t in mine)
        noise_lines.append(
            f"| {name} | {objective.metric} | {noise:.4f} | {r50_suite:.4f} | {r50_fresh:.4f} | {fmt(gap)} |"
        )
        for a, b in pairs:
            on_suite = [t.values[a] - t.values[b] for t in mine]
            on_fresh = [statistics.mean(f[a]) - statistics.mean(f[b]) for f in fresh]
            wins_suite = sum(d >= 0 for d in on_suite)
            wins_fresh = sum(d >= 0 for d in on_fresh)
            agree = sum((s >= 0) == (f >= 0) for s, f in zip(on_suite, on_fresh, strict=True))
            low, high = bootstrap_mean(on_fresh)
            group = "synthetic" if isinstance(objective, SyntheticObjective) else "XGBoost"
            for key in ((group, a, b), ("all", a, b)):
                total = pooled.setdefault(key, [0, 0, 0, 0])
                for i, v in enumerate((wins_suite, wins_fresh, agree, len(mine))):
                    total[i] += v
            rows.append(
                f"| {a[0]}@{a[1]} − {b[0]}@{b[1]} | {name} | {wins_suite}/{len(mine)} | {wins_fresh}/{len(mine)} | "
                f"{agree}/{len(mine)} | {fmt(statistics.mean(on_fresh))} | [{fmt(low)}, {fmt(high)}] | "
                f"{wilcoxon_p(on_fresh):.2g} |"
            )
    pooled_rows = [
        "| objectives | comparison | pairs ≥ 0, values seen (95 % Wilson) | pairs ≥ 0, beyond the search (95 % Wilson) "
        "| verdicts agree |",
        "|---|---|---|---|---:|",
    ]
    for (group, a, b), (wins_suite, wins_fresh, agree, n) in sorted(pooled.items(), key=lambda kv: kv[0][0] == "all"):
        s_low, s_high = wilson(wins_suite, n)
        f_low, f_high = wilson(wins_fresh, n)
        pooled_rows.append(
            f"| {group} | {a[0]}@{a[1]} − {b[0]}@{b[1]} | "
            f"{wins_suite}/{n} = {wins_suite / n:.0%} ({s_low:.0%}–{s_high:.0%}) | "
            f"{wins_fresh}/{n} = {wins_fresh / n:.0%} ({f_low:.0%}–{f_high:.0%}) | {agree}/{n} = {agree / n:.0%} |"
        )
    drift = max((r["drift"] for r in rescored if "drift" in r), default=0.0)
    return [
        f"- {len(tasks) // len(names)} seeds per objective, {splits} fresh splits per XGBoost pick; wall {wall:.0f} s",
        f"- check: every XGBoost pick re-scored on the suite's own split (seed 0) reproduces its saved value "
        f"(largest difference {drift:.1e})",
        "- beyond the search: an XGBoost pick's mean over the fresh splits; a synthetic pick's noise-free value",
        "",
        "## Noise against the spread the goal compares",
        "",
        *noise_lines,
        "",
        "## Verdicts on the values the search saw and beyond them",
        "",
        *rows,
        "",
        "## Pooled over the objectives",
        "",
        *pooled_rows,
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--runs", type=Path, nargs="+", default=[RUNS], help=f"search_suite --runs dirs (default {RUNS})"
    )
    parser.add_argument("--objectives", default=None, help="comma-separated (default: every one the runs hold)")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--splits", type=int, default=SPLITS)
    parser.add_argument("--against", default="Random", help="comma-separated arms Bayesian is compared with")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    results = saved_runs(args.runs)
    names = [n for n in args.objectives.split(",") if n] if args.objectives else [n for n in OBJECTIVES if n in results]
    unknown = [n for n in names if n not in OBJECTIVES]
    if unknown:
        parser.error(f"unknown objectives: {', '.join(unknown)}")
    pairs = comparisons([a for a in args.against.split(",") if a])
    picks = list(dict.fromkeys(pick for pair in pairs for pick in pair))
    try:
        tasks = tasks_from(results, names, picks, args.seeds, args.splits)
    except LookupError as missing:
        parser.error(f"--runs {' '.join(map(str, args.runs))}: {missing}")
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(args.processes) as pool:
        rescored = list(progress(pool.imap_unordered(rescore, tasks), desc="objective x seed", total=len(tasks)))
    wall = time.perf_counter() - started
    lines = [
        *header("Search-suite verdicts beyond the values the search saw"),
        *report(tasks, rescored, pairs, args.splits, wall),
    ]
    print("\n".join(lines))
    save_results(args.output, "\n".join(lines))


if __name__ == "__main__":
    main()

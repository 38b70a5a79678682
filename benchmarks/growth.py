"""How the local SageMaker's costs grow with the work: ask time, API latency, memory and the service's own time
against jobs held (issue "Growth").

Parts (all by default, written to results/growth.md; `--parts` picks some, written to results/growth_<parts>.md unless
`--output` says where, so a partial run never overwrites the full one):

- `ask`: the Bayesian strategy's ask, in-process, against the points it has observed (50 to 500, AWS's maximum
  jobs per tuning job), over REFIT_EVERY consecutive asks (mean and slowest): the shipped model (kernel fitted
  on at most MAX_FITTED points, refitted every REFIT_EVERY points from REFIT_FROM on, posterior on all) against
  the same model refitting its kernel at every ask, and fitted on every point at every ask (as it first was);
  Random and Hyperband's TPE for reference.
- `quality`: what the kernel's reuse costs in search quality past REFIT_FROM jobs: Bayesian tuning jobs of
  QUALITY_JOBS jobs, 10 in parallel, on -Hartmann6 through the service's own tuning loop (search_quality.py's
  simulated jobs), the shipped model against refitting at every ask, the same RandomSeed for both (paired).
- `store`: a state directory holding 10,000 finished training jobs (written with the service's own store, as a
  busy team's service accumulates them): ListTrainingJobs pages of 100 with and without filters and sort, deep
  pages, DescribeTrainingJob, `kill -9` to serving again, and what the directory weighs.
- `tuning`: one tuning job per strategy (Bayesian, Random, Hyperband) of `--jobs` sub-second training jobs, 10 in
  parallel, on a private local SageMaker, while a client polls DescribeHyperParameterTuningJob and
  ListTrainingJobsForHyperParameterTuningJob: their latency (p50/p99), the service's memory (RSS), and the
  service's own CPU time per training job (its process, not the jobs'), first window (jobs 10-60) against the
  last 50.

    .venv/bin/python -m benchmarks.growth [--parts ask,quality,store,tuning] [--jobs 500] [--stored 10000]
        [--quality-seeds 5] [--output FILE]
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS_DIR, header, percentile, ratio, save_results
from harness.history import seed_history, seeded_name
from harness.local_sagemaker import XGBOOST_IMAGE, LocalSageMakerProcess, unique, upload_source

RESULTS = RESULTS_DIR / "growth.md"
PARTS = ("ask", "quality", "store", "tuning")
BUCKET = "growth-bench"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
ASK_POINTS = (50, 100, 150, 200, 300, 400, 500)
SHIPPED, EVERY_ASK, FIT_ALL = "shipped", "refit every ask", "fit on all"
MODELS = (SHIPPED, EVERY_ASK, FIT_ALL)
SCRIPT = b"""\
import argparse, math, time
p = argparse.ArgumentParser()
p.add_argument("--x", type=float); p.add_argument("--y", type=float); p.add_argument("--epochs", type=int, default=3)
a, _ = p.parse_known_args()
quality = 1 - (a.x - 0.3) ** 2 - (math.log10(a.y) + 2) ** 2 / 4
for epoch in range(1, a.epochs + 1):
    print(f"epoch={epoch} objective={quality * (1 - 0.5 ** epoch):.6f};", flush=True)
"""


# --- ask --------------------------------------------------------------------------------------------
def suggested(strategy: Any) -> Any:
    """The strategy's next suggestion; only Grid runs out, and it is not timed here."""
    suggestion = strategy.suggest()
    assert suggestion is not None, f"{type(strategy).__name__} suggested nothing"
    return suggestion


def ask_seconds(strategy: str, points: int, model: str = SHIPPED) -> tuple[float, float]:
    """Mean and slowest of REFIT_EVERY consecutive asks after `points` observed jobs (a 5-parameter space like the
    flights model's), each job told before the next ask. `model` is one of MODELS (Bayesian only)."""
    import numpy as np

    from include.local_sagemaker.strategies import SearchSpace, make_strategy
    from include.local_sagemaker.strategies import gp as gp_module

    ranges = {
        "ContinuousParameterRanges": [
            {"Name": "eta", "MinValue": "0.01", "MaxValue": "0.5", "ScalingType": "Logarithmic"},
            {"Name": "min_child_weight", "MinValue": "1", "MaxValue": "20", "ScalingType": "Logarithmic"},
            {"Name": "subsample", "MinValue": "0.5", "MaxValue": "1", "ScalingType": "Linear"},
            {"Name": "colsample_bytree", "MinValue": "0.5", "MaxValue": "1", "ScalingType": "Linear"},
        ],
        "IntegerParameterRanges": [{"Name": "max_depth", "MinValue": "2", "MaxValue": "10", "ScalingType": "Linear"}],
    }
    rng = np.random.RandomState(0)

    def objective(h: dict[str, str]) -> float:
        eta, depth = float(h["eta"]), int(h["max_depth"])
        return (
            -((math.log(eta) + 2.3) ** 2) - 0.05 * (depth - 6) ** 2 + 0.1 * float(h["subsample"]) + rng.normal(0, 0.02)
        )

    space = SearchSpace.from_ranges(ranges)
    donor = make_strategy("Random", space, True, 11)
    history = [suggested(donor).hyperparameters for _ in range(points)]
    shipped = gp_module.MAX_FITTED, gp_module.REFIT_FROM
    if model != SHIPPED:
        gp_module.REFIT_FROM = 10**9
    if model == FIT_ALL:
        gp_module.MAX_FITTED = 10**9
    try:
        strategy_ = make_strategy(strategy, space, True, 1, {"MaxResource": 10} if strategy == "Hyperband" else None)
        strategy_.seed_with([(h, objective(h)) for h in history])
        times = []
        for _ in range(gp_module.REFIT_EVERY):
            began = time.perf_counter()
            suggestion = suggested(strategy_)
            times.append(time.perf_counter() - began)
            strategy_.tell(suggestion.trial, objective(suggestion.hyperparameters))
    finally:
        gp_module.MAX_FITTED, gp_module.REFIT_FROM = shipped
    return statistics.mean(times), max(times)


def ask_part(out: list[str], plots: dict[str, Any]) -> None:
    ask_seconds("Bayesian", 10)  # imports (scikit-learn, scipy) out of the first figure
    rows: list[tuple[Any, ...]] = []
    for points in ASK_POINTS:
        bayesian = [ask_seconds("Bayesian", points, model) for model in MODELS]
        others = [ask_seconds(strategy, points)[0] for strategy in ("Random", "Hyperband")]
        rows.append((points, *bayesian, *others))
        print(
            f"ask at {points}: "
            + ", ".join(f"{m} {mean:.3f} s (max {top:.3f})" for m, (mean, top) in zip(MODELS, bayesian, strict=True))
        )
    out += [
        "",
        "## Ask time against observed points (in-process, one core)",
        "",
        "Mean and slowest of 10 consecutive asks after N observed jobs of a 5-parameter space, each job told before "
        "the next ask. *Shipped*: the Bayesian model's kernel hyperparameters fitted on at most MAX_FITTED points "
        "spread over the ranking and, from REFIT_FROM points on, refitted once every REFIT_EVERY points (the asks "
        "between reuse them; the posterior is always conditioned on every point); *refit every ask*: the same "
        "without the reuse (as shipped until this change); *fit on all*: the kernel fitted on every point at every "
        "ask (as it first was).",
        "",
        "| points | shipped, mean / slowest (s) | refit every ask, mean (s) | fit on all, mean (s) | Random (s) "
        "| Hyperband TPE (s) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    out += [
        f"| {p} | {s[0]:.3f} / {s[1]:.3f} | {e[0]:.3f} | {a[0]:.3f} | {r:.4f} | {h:.4f} |" for p, s, e, a, r, h in rows
    ]
    plots["ask"] = rows


# --- quality ----------------------------------------------------------------------------------------
QUALITY_JOBS = 150
QUALITY_AT = (60, 100, 150)


def quality_part(out: list[str], seeds: int) -> None:
    from benchmarks.search_quality import HartmannObjective, simulate, tuning_job
    from include.local_sagemaker.strategies import gp as gp_module

    objective = HartmannObjective()
    best: dict[str, list[list[float]]] = {SHIPPED: [], EVERY_ASK: []}
    asks: dict[str, list[float]] = {SHIPPED: [], EVERY_ASK: []}
    for seed in range(seeds):
        for model in (SHIPPED, EVERY_ASK):
            shipped = gp_module.REFIT_FROM
            if model == EVERY_ASK:
                gp_module.REFIT_FROM = 10**9
            try:
                jobs = simulate(tuning_job(objective, "Bayesian", QUALITY_JOBS, seed, parallel=10), objective)
            finally:
                gp_module.REFIT_FROM = shipped
            values = [job.value for job in sorted(jobs, key=lambda job: job.index)]
            best[model].append([max(values[:n]) for n in QUALITY_AT])
            asks[model].append(sum(job.ask_seconds for job in jobs))
            print(f"quality seed {seed} {model}: best@{QUALITY_AT} {best[model][-1]}, asks {asks[model][-1]:.1f} s")
    differences = [
        [a - b for a, b in zip(s, e, strict=True)] for s, e in zip(best[SHIPPED], best[EVERY_ASK], strict=True)
    ]
    out += [
        "",
        f"## What the kernel's reuse costs in search quality ({seeds} seeds, paired)",
        "",
        f"Bayesian tuning jobs of {QUALITY_JOBS} jobs, 10 in parallel, on −Hartmann6 (6-d, maximised, best 3.3224) "
        "through the service's tuning loop with simulated jobs (benchmarks/search_quality.py); the same RandomSeed "
        "for both models of a seed. Best value after N jobs (mean over seeds), the paired difference shipped − "
        "refit every ask (mean, and the smallest and largest over seeds), and the seconds spent asking per tuning "
        "job.",
        "",
        "| model | " + " | ".join(f"best@{n}" for n in QUALITY_AT) + " | ask seconds per tuning job |",
        "| --- | " + " | ".join("---:" for _ in QUALITY_AT) + " | ---: |",
    ]
    for model in (SHIPPED, EVERY_ASK):
        means = [statistics.mean(run[i] for run in best[model]) for i in range(len(QUALITY_AT))]
        out.append(f"| {model} | " + " | ".join(f"{m:.4f}" for m in means) + f" | {statistics.mean(asks[model]):.1f} |")
    cells = [
        f"{statistics.mean(d[i] for d in differences):+.4f} ({min(d[i] for d in differences):+.4f}.."
        f"{max(d[i] for d in differences):+.4f})"
        for i in range(len(QUALITY_AT))
    ]
    out.append("| shipped − refit every ask | " + " | ".join(cells) + " | |")


# --- store ------------------------------------------------------------------------------------------
def timed_ms(call: Any, count: int) -> list[float]:
    times = []
    for _ in range(count):
        began = time.perf_counter()
        call()
        times.append((time.perf_counter() - began) * 1000)
    return times


def store_part(out: list[str], stored: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        state = Path(scratch) / "state"
        began = time.perf_counter()
        seed_history(state, stored)
        seeded = time.perf_counter() - began
        weight = sum(p.stat().st_size for p in state.rglob("*") if p.is_file())
        server = LocalSageMakerProcess(state)
        began = time.perf_counter()
        server.start()
        started = time.perf_counter() - began
        try:
            sm = server.client("sagemaker")
            sm.list_training_jobs(MaxResults=1)  # the client's own first-call costs out of the figures
            token = None
            for _ in range(stored // 200):  # half-way down the default order
                token = sm.list_training_jobs(MaxResults=100, **({"NextToken": token} if token else {}))["NextToken"]
            cases = {
                "ListTrainingJobs, first page of 100 (default sort)": lambda: sm.list_training_jobs(MaxResults=100),
                "... sorted by Name": lambda: sm.list_training_jobs(
                    MaxResults=100, SortBy="Name", SortOrder="Ascending"
                ),
                "... NameContains + StatusEquals": lambda: sm.list_training_jobs(
                    MaxResults=100, NameContains="beta", StatusEquals="Completed"
                ),
                f"... page {stored // 200 + 1} (NextToken)": lambda: sm.list_training_jobs(
                    MaxResults=100, NextToken=token
                ),
                "DescribeTrainingJob": lambda: sm.describe_training_job(
                    TrainingJobName=seeded_name(stored // 2, stored)
                ),
            }
            rows = [(label, timed_ms(call, 50)) for label, call in cases.items()]
            server.kill()
            began = time.perf_counter()
            server.start()
            restarted = time.perf_counter() - began
            assert sm.describe_training_job(TrainingJobName=seeded_name(0, stored))["TrainingJobStatus"] == "Failed"
        finally:
            server.stop()
    out += [
        "",
        f"## {stored:,} training jobs in one state directory",
        "",
        f"Seeded in {seeded:.1f} s; the state directory weighs {weight / 1e6:.1f} MB; the service started in "
        f"{started:.2f} s and was serving again {restarted:.2f} s after a `kill -9` (goal ≤ 5 s).",
        "",
        "| call (50 each) | p50 ms | p99 ms | goal |",
        "| --- | ---: | ---: | --- |",
    ]
    for label, times in rows:
        goal = "≤ 20 ms" if label.startswith("Describe") else "≤ 50 ms per page"
        out.append(f"| {label} | {statistics.median(times):.1f} | {percentile(times, 0.99):.1f} | {goal} |")


# --- tuning -----------------------------------------------------------------------------------------
@dataclass
class Watch:
    """What a client sees while the tuning job runs, and what the service costs."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: {"describe": [], "list": []})
    samples: list[tuple[int, float, float]] = field(default_factory=list)  # (jobs created, cpu s, rss MB)
    stop: threading.Event = field(default_factory=threading.Event)


def poll(sm: Any, name: str, watch: Watch) -> None:
    while not watch.stop.is_set():
        for kind, call in (
            ("describe", lambda: sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)),
            ("list", lambda: sm.list_training_jobs_for_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)),
        ):
            began = time.perf_counter()
            call()
            watch.latencies[kind].append((time.perf_counter() - began) * 1000)
        time.sleep(0.05)


def sample(server: LocalSageMakerProcess, sm: Any, name: str, watch: Watch) -> None:
    import psutil

    assert server.process is not None  # started by the caller's with block
    process = psutil.Process(server.process.pid)
    while not watch.stop.is_set():
        counters = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)["TrainingJobStatusCounters"]
        cpu = process.cpu_times()
        watch.samples.append((sum(counters.values()), cpu.user + cpu.system, process.memory_info().rss / 2**20))
        time.sleep(0.5)


def cpu_per_job(samples: list[tuple[int, float, float]], first: int, last: int) -> float:
    """Service CPU seconds per training job created between the samples nearest `first` and `last` jobs."""
    start = min(samples, key=lambda s: abs(s[0] - first))
    end = min(samples, key=lambda s: abs(s[0] - last))
    return (end[1] - start[1]) / max(1, end[0] - start[0])


def tuning_part(out: list[str], plots: dict[str, Any], jobs: int) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as scratch, LocalSageMakerProcess(Path(scratch) / "state") as server:
        sm, s3 = server.client("sagemaker"), server.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="data/train/part.csv", Body=b"1,0\n0,1\n")
        code = upload_source(s3, BUCKET, {"curve.py": SCRIPT}, "code/curve.tar.gz")
        for strategy in ("Bayesian", "Random", "Hyperband"):
            name = unique(f"growth-{strategy.lower()}")[:32]
            request = tuning_request(name, strategy, jobs, code)
            watch = Watch()
            began = time.perf_counter()
            sm.create_hyper_parameter_tuning_job(**request)
            threads = [
                threading.Thread(target=poll, args=(server.client("sagemaker"), name, watch), daemon=True),
                threading.Thread(target=sample, args=(server, server.client("sagemaker"), name, watch), daemon=True),
            ]
            for thread in threads:
                thread.start()
            while True:
                described = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
                if described["HyperParameterTuningJobStatus"] not in ("InProgress", "Stopping"):
                    break
                time.sleep(1)
            watch.stop.set()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - began
            counters = described["TrainingJobStatusCounters"]
            early = cpu_per_job(watch.samples, 10, 60)
            late = cpu_per_job(watch.samples, jobs - 50, jobs)
            rows.append(
                (
                    strategy,
                    described["HyperParameterTuningJobStatus"],
                    sum(counters.values()),
                    elapsed,
                    watch.latencies,
                    max(s[2] for s in watch.samples),
                    early,
                    late,
                )
            )
            plots[f"tuning-{strategy}"] = watch.samples
            print(
                f"{strategy}: {described['HyperParameterTuningJobStatus']} in {elapsed:.0f} s; "
                f"service CPU per job {early:.3f} -> {late:.3f} s"
            )
    out += [
        "",
        f"## One tuning job of {jobs} sub-second training jobs per strategy (10 in parallel)",
        "",
        "While it ran, a client polled DescribeHyperParameterTuningJob and ListTrainingJobsForHyperParameterTuningJob "
        "back to back (50 ms apart). *Service CPU per job* is the service process's own CPU time (not the jobs') per "
        "training job created, over jobs 10-60 and over the last 50 (goal: ratio ≤ 1.5).",
        "",
        "| strategy | status | jobs | wall s | Describe p50 / p99 ms | List p50 / p99 ms | max RSS MB "
        "| service CPU per job, jobs 10-60 / last 50 (s) | ratio |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for strategy, status, count, elapsed, latencies, rss, early, late in rows:
        d, li = latencies["describe"], latencies["list"]
        out.append(
            f"| {strategy} | {status} | {count} | {elapsed:.0f} | {statistics.median(d):.1f} / "
            f"{percentile(d, 0.99):.1f} | {statistics.median(li):.1f} / {percentile(li, 0.99):.1f} | {rss:.0f} "
            f"| {early:.3f} / {late:.3f} | {ratio(late, early)} |"
        )


def tuning_request(name: str, strategy: str, jobs: int, code: str) -> dict[str, Any]:
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": strategy,
            "ResourceLimits": {"MaxNumberOfTrainingJobs": jobs, "MaxParallelTrainingJobs": 10},
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "objective"},
            "ParameterRanges": {
                "ContinuousParameterRanges": [
                    {"Name": "x", "MinValue": "0", "MaxValue": "1", "ScalingType": "Linear"},
                    {"Name": "y", "MinValue": "0.0001", "MaxValue": "1", "ScalingType": "Logarithmic"},
                ]
            },
            "RandomSeed": 1,
        },
        "TrainingJobDefinition": {
            "AlgorithmSpecification": {
                "TrainingImage": XGBOOST_IMAGE,
                "TrainingInputMode": "File",
                "MetricDefinitions": [{"Name": "objective", "Regex": r"objective=([-+]?[0-9.]+);"}],
            },
            "RoleArn": ROLE,
            "StaticHyperParameters": {
                "sagemaker_program": "curve.py",
                "sagemaker_submit_directory": code,
                "epochs": "3",
            },
            "InputDataConfig": [
                {
                    "ChannelName": "train",
                    "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/data/train/"}},
                }
            ],
            "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/output"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
            "StoppingCondition": {"MaxRuntimeInSeconds": 300},
        },
    }


# --- plots and main ---------------------------------------------------------------------------------
def draw(plots: dict[str, Any], output: Path) -> list[str]:
    """The plots of the parts that ran, saved beside `output` as <its stem>_ask.png and <its stem>_tuning.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines = []
    if "ask" in plots:
        figure, axes = plt.subplots(figsize=(6, 3.5))
        points = [row[0] for row in plots["ask"]]
        axes.plot(points, [row[1][0] for row in plots["ask"]], marker="o", label="Bayesian, shipped (mean)")
        axes.plot(points, [row[2][0] for row in plots["ask"]], marker="o", label="Bayesian, kernel refit every ask")
        axes.plot(points, [row[3][0] for row in plots["ask"]], marker="o", label="Bayesian, fit on all points")
        axes.plot(points, [row[5] for row in plots["ask"]], marker="o", label="Hyperband (TPE)")
        axes.set(xlabel="observed jobs", ylabel="seconds per ask", title="Ask time against jobs held")
        axes.axhline(1.0, color="grey", linestyle=":", label="goal 1 s")
        axes.legend()
        figure.tight_layout()
        figure.savefig(output.with_name(f"{output.stem}_ask.png"), dpi=100)
        lines += ["", f"![ask time against jobs held]({output.stem}_ask.png)"]
    tuning = {k.removeprefix("tuning-"): v for k, v in plots.items() if k.startswith("tuning-")}
    if tuning:
        figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
        for strategy, samples in tuning.items():
            left.plot([s[0] for s in samples], [s[1] for s in samples], label=strategy)
            right.plot([s[0] for s in samples], [s[2] for s in samples], label=strategy)
        left.set(xlabel="training jobs created", ylabel="service CPU s", title="Service CPU against jobs")
        right.set(xlabel="training jobs created", ylabel="RSS MB", title="Service memory against jobs")
        left.legend()
        figure.tight_layout()
        figure.savefig(output.with_name(f"{output.stem}_tuning.png"), dpi=100)
        lines += ["", f"![service CPU and memory against jobs]({output.stem}_tuning.png)"]
    plt.close("all")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default=",".join(PARTS))
    parser.add_argument("--jobs", type=int, default=500, help="training jobs per tuning job (AWS's maximum: 500)")
    parser.add_argument("--stored", type=int, default=10_000, help="training jobs in the state directory")
    parser.add_argument("--quality-seeds", type=int, default=5, help="paired seeds of the quality part")
    parser.add_argument(
        "--output",
        type=Path,
        help="results file (default: growth.md for every part, growth_<parts>.md for some, so a partial run never "
        "overwrites the full one)",
    )
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    if parts - set(PARTS):
        parser.error(f"--parts: unknown {', '.join(sorted(parts - set(PARTS)))}; choose from {', '.join(PARTS)}")
    output = args.output or (
        RESULTS if parts == set(PARTS) else RESULTS_DIR / f"growth_{'_'.join(p for p in PARTS if p in parts)}.md"
    )
    out = header("Growth: ask time, API latency, memory and service time against jobs held")
    plots: dict[str, Any] = {}
    if "ask" in parts:
        ask_part(out, plots)
    if "quality" in parts:
        quality_part(out, args.quality_seeds)
    if "store" in parts:
        store_part(out, args.stored)
    if "tuning" in parts:
        tuning_part(out, plots, args.jobs)
    out += draw(plots, output)
    out += [
        "",
        "## A year of backfill",
        "",
        "Time and memory per backfill run against run index, from `benchmarks/backfill_year.py` (a separate run: "
        "two hours of a real scheduler), in [backfill_year.md](backfill_year.md):",
        "",
        "![time and memory per backfill run against run index](backfill_year_per_run.png)",
    ]
    save_results(output, "\n".join(out))


if __name__ == "__main__":
    main()

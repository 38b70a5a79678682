"""CeleryExecutor scale-out: a backfill of hpo_nightly on 1 and 2 workers, with `tune` waiting in a worker slot
(deferrable=False) or in the triggerer (deferrable=True), and the memory of each component of the 2-worker stack.

    .venv/bin/python -m benchmarks.scale [--days 6] [--jobs 4] [--parallel 2] [--slots 2]

Each configuration gets a fresh stack from harness/stack.py (PostgreSQL, Redis, the local SageMaker,
api-server, scheduler, dag-processor, triggerer, N Celery workers of --slots task slots each) and runs one
backfill of --days logical dates with every run allowed at once (the backfill's max_active_runs), each run a small
tuning job (--jobs training jobs, --parallel at a time). deferrable=True is Airflow's `[operators]
default_deferrable` on the workers, the switch a deployment would flip.

Measured per configuration, the metadata DB and the local SageMaker sampled every 0.5 s: wall time from creating
the backfill to its last run ending; worker slots held by `tune` (task instances running, not deferred): peak and
slot-seconds; tuning jobs in flight at once (peak); tuning jobs created, which must equal the runs. Ratios are
against 1 worker, deferrable=False, in the same invocation. Memory: PSS of each component's process tree
(task processes under their worker, training jobs under the local SageMaker) in the 2-worker stacks, idle after
start-up and the peak over the backfill, sampled every 5 s.

The local SageMaker trains on this machine's CPUs, so here more tuning jobs in flight also means more training
processes sharing two cores; on SageMaker the compute is elsewhere and a worker slot is all a wait costs.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.common import RESULTS_DIR, header, ratio, save_results
from harness.stack import Stack, missing_binaries

RESULTS = RESULTS_DIR / "scale.md"
FIRST_DAY = datetime.date(2013, 1, 10)
WINDOW_DAYS = 3
DEFERRABLE = {"AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True"}
SAMPLE_SECONDS = 0.5
MEMORY_SAMPLE_SECONDS = 5.0


@dataclass
class Outcome:
    workers: int
    deferrable: bool
    wall: float = 0.0
    runs: int = 0
    succeeded: int = 0
    tuning_jobs: int = 0
    tune_slots_peak: int = 0
    tune_slot_seconds: float = 0.0
    slots_used_peak: int = 0
    tuning_in_flight_peak: int = 0
    startup: float = 0.0
    memory_idle: dict[str, float] = field(default_factory=dict)  # component → MiB
    memory_peak: dict[str, float] = field(default_factory=dict)


def pss_by_component(stack: Stack) -> dict[str, float]:
    """MiB of PSS (RSS where PSS is unreadable) summed over each component's process tree."""
    import psutil

    sizes = {}
    for component, pids in stack.pids().items():
        total = 0
        for pid in pids:
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                process = psutil.Process(pid)
                try:
                    total += process.memory_full_info().pss
                except (psutil.AccessDenied, AttributeError):
                    total += process.memory_info().rss
        sizes[component] = total / 2**20
    return sizes


def sample(stack: Stack, outcome: Outcome, done: threading.Event, measure_memory: bool) -> None:
    """Until `done`: slots held by tune and by any task, deferred tunes, tuning jobs in progress, memory."""
    sm = stack.sagemaker.client("sagemaker")
    last = time.monotonic()
    next_memory = 0.0
    while not done.is_set():
        rows = stack.postgres.query(
            "SELECT task_id, state FROM task_instance WHERE dag_id = 'hpo_nightly' AND state = 'running'"
        )
        tune_running = sum(1 for task_id, _ in rows if task_id == "tune")
        in_flight = len(
            sm.list_hyper_parameter_tuning_jobs(StatusEquals="InProgress", MaxResults=100)[
                "HyperParameterTuningJobSummaries"
            ]
        )
        now = time.monotonic()
        outcome.tune_slot_seconds += tune_running * (now - last)
        last = now
        outcome.tune_slots_peak = max(outcome.tune_slots_peak, tune_running)
        outcome.slots_used_peak = max(outcome.slots_used_peak, len(rows))
        outcome.tuning_in_flight_peak = max(outcome.tuning_in_flight_peak, in_flight)
        if measure_memory and now >= next_memory:
            for component, mib in pss_by_component(stack).items():
                outcome.memory_peak[component] = max(outcome.memory_peak.get(component, 0.0), mib)
            next_memory = now + MEMORY_SAMPLE_SECONDS
        done.wait(SAMPLE_SECONDS)


def run_configuration(workers: int, deferrable: bool, args: argparse.Namespace, root: Path) -> Outcome:
    outcome = Outcome(workers=workers, deferrable=deferrable)
    last_day = FIRST_DAY + datetime.timedelta(days=args.days - 1)
    conf = {
        "strategy": "Random",
        "max_jobs": args.jobs,
        "max_parallel_jobs": args.parallel,
        "hyperparameters": {"num_round": 20},
        "training_window_days": WINDOW_DAYS,
        "smoke_threshold": 0.0,
    }
    began = time.monotonic()
    stack = Stack(root, workers=workers, concurrency=args.slots, environment=DEFERRABLE if deferrable else {})
    with stack:
        outcome.startup = time.monotonic() - began
        stack.seed(FIRST_DAY - datetime.timedelta(days=WINDOW_DAYS + 1), last_day)
        measure_memory = workers == 2
        if measure_memory:
            outcome.memory_idle = pss_by_component(stack)
        done = threading.Event()
        sampler = threading.Thread(target=sample, args=(stack, outcome, done, measure_memory), daemon=True)
        start = time.monotonic()
        stack.airflow.call(
            "POST",
            "/backfills",
            {
                "dag_id": "hpo_nightly",
                "from_date": f"{FIRST_DAY.isoformat()}T00:00:00Z",
                "to_date": f"{last_day.isoformat()}T00:00:00Z",
                "max_active_runs": args.days,
                "dag_run_conf": conf,
            },
        )
        sampler.start()
        try:
            states = stack.wait_for_backfill(args.days, timeout=args.timeout)
        finally:
            outcome.wall = time.monotonic() - start
            done.set()
            sampler.join()
        outcome.runs = len(states)
        outcome.succeeded = sum(1 for state in states.values() if state == "success")
        sm = stack.sagemaker.client("sagemaker")
        outcome.tuning_jobs = len(
            sm.list_hyper_parameter_tuning_jobs(MaxResults=100)["HyperParameterTuningJobSummaries"]
        )
    return outcome


def report(args: argparse.Namespace, outcomes: list[Outcome]) -> str:
    base = outcomes[0]

    lines = [
        "| workers × slots | deferrable | wall (s) | vs 1 worker, not deferred | runs succeeded | tuning jobs created "
        "| tune: peak slots held | tune: slot-seconds held | peak slots used (all tasks) "
        "| peak tuning jobs in flight |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for o in outcomes:
        lines.append(
            f"| {o.workers} × {args.slots} | {o.deferrable} | {o.wall:.0f} | {ratio(o.wall, base.wall)} | "
            f"{o.succeeded}/{o.runs} | {o.tuning_jobs} | {o.tune_slots_peak} | {o.tune_slot_seconds:.0f} | "
            f"{o.slots_used_peak}/{o.workers * args.slots} | {o.tuning_in_flight_peak} |"
        )
    memory = [o for o in outcomes if o.memory_idle]
    if memory:
        labels = ["deferred" if o.deferrable else "not deferred" for o in memory]
        header = " | ".join(f"{label}: idle | {label}: peak" for label in labels)
        lines += [
            "",
            "Memory of the 2-worker stack: PSS in MiB of each component's process tree (task processes under their "
            "worker, training jobs under the local SageMaker), idle after start-up and the peak during the backfill; "
            "the total's peak adds the components' peaks, which need not coincide.",
            "",
            f"| component | {header} |",
            "|---|" + "---:|---:|" * len(memory),
        ]
        for component in [*memory[0].memory_idle, "total"]:
            cells = []
            for o in memory:
                idle = sum(o.memory_idle.values()) if component == "total" else o.memory_idle.get(component, 0.0)
                peak = sum(o.memory_peak.values()) if component == "total" else o.memory_peak.get(component, 0.0)
                cells.append(f"{idle:.0f} | {peak:.0f}")
            lines.append(f"| {component} | {' | '.join(cells)} |")
    return "\n".join(lines)


def reading(outcomes: list[Outcome]) -> str:
    """What the table shows, from its own numbers: how many tuning jobs one held slot served, with and without
    deferral, and what the wall time says on this machine."""
    lines = []
    for o in outcomes:
        per_slot = o.tuning_in_flight_peak / o.tune_slots_peak if o.tune_slots_peak else float("inf")
        lines.append(
            f"- {o.workers} worker(s), {'deferred' if o.deferrable else 'not deferred'}: up to "
            f"{o.tuning_in_flight_peak} tuning jobs in flight on at most {o.tune_slots_peak} slot(s) held by `tune` "
            f"({per_slot:.1f} per slot), {o.tune_slot_seconds:.0f} slot-seconds; "
            f"{o.tuning_jobs} tuning jobs for {o.runs} runs."
        )
    waits = {o.deferrable: o.tune_slot_seconds for o in outcomes if o.workers == outcomes[0].workers}
    if False in waits and True in waits and waits[True]:
        lines.append(
            f"- Deferral cut the worker time spent waiting on tuning jobs {waits[False] / waits[True]:.1f}× on "
            f"{outcomes[0].workers} worker(s): the slot is held only to submit the job and to collect its result; "
            "the triggerer does the waiting for all of them. Without deferral the number of tuning jobs in flight is "
            "capped by the worker slots."
        )
    lines.append(
        "- Wall time here is bound by the two CPUs that also run every training job of the local SageMaker: more "
        "tuning jobs in flight means more training processes on the same cores, so deferral does not shorten the "
        "backfill on this machine. On SageMaker the compute is elsewhere and a wait costs only the slot it holds."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=6, help="logical dates in the backfill (default 6)")
    parser.add_argument("--jobs", type=int, default=4, help="training jobs per tuning job (default 4)")
    parser.add_argument("--parallel", type=int, default=2, help="training jobs at once per tuning job (default 2)")
    parser.add_argument("--slots", type=int, default=2, help="Celery task slots per worker (default 2)")
    parser.add_argument("--configs", default="1:False,1:True,2:False,2:True", help="workers:deferrable, ...")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds a backfill may take (default 1200)")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"markdown results (default {RESULTS})")
    args = parser.parse_args()
    missing = missing_binaries()
    if missing:
        sys.exit(f"{' and '.join(missing)} not found (install with `apt-get install -y redis-server postgresql`)")
    configs = [(int(w), d == "True") for w, d in (c.split(":") for c in args.configs.split(","))]
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="scale-bench-") as tmp:
        for workers, deferrable in configs:
            print(f"{workers} worker(s), deferrable={deferrable} ...", flush=True)
            outcome = run_configuration(workers, deferrable, args, Path(tmp) / f"{workers}-{deferrable}")
            print(f"  {outcome.wall:.0f} s, {outcome.succeeded}/{outcome.runs} runs, {outcome.tuning_jobs} tuning jobs")
            outcomes.append(outcome)
    table = report(args, outcomes) + "\n\n## Reading\n\n" + reading(outcomes)
    print(table)
    save_results(
        args.output,
        "\n".join(header("CeleryExecutor scale-out: backfill on 1 and 2 workers, deferred or not")) + "\n"
        f"- workload: a backfill of {args.days} logical dates of hpo_nightly from {FIRST_DAY}, all runs at once "
        f"(the backfill's max_active_runs), each tuning {args.jobs} training jobs {args.parallel} at a time "
        f"(Random, 20 rounds, {WINDOW_DAYS}-day window); {args.slots} Celery slots per worker; a fresh stack per row "
        "(harness/stack.py: PostgreSQL, Redis, local SageMaker, api-server, scheduler, dag-processor, "
        "triggerer, workers)\n"
        "- tune slots are task instances of `tune` in state running (deferred ones hold no slot), sampled every "
        f"{SAMPLE_SECONDS} s from the metadata DB; tuning jobs in flight from ListHyperParameterTuningJobs\n\n"
        f"{table}\n",
    )


if __name__ == "__main__":
    main()

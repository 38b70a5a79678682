"""A year of backfill: hpo_nightly over 2013-02-01..2013-12-31 under a real scheduler (issue 19, item 3).

    .venv/bin/python -m benchmarks.backfill_year [--from 2013-02-01] [--to 2013-12-31] [--output ...]

Everything is private to the run, in a temp directory: a local SageMaker process with its own state directory and
bucket, the flight partitions from 2013-01-01 (the first run trains on the days before --from), and a real Airflow
(api-server + scheduler, LocalExecutor, SQLite metadata DB in its own AIRFLOW_HOME) with the project's DAGs. The
developer's ~/airflow and any running demo are never touched.

One `airflow backfill create` over the range, one run at a time (--max-active-runs 1: a backfill run's champion is
the winner of the earlier days, so the days must finish in order), each run a small tuning job (BUDGET below).
Measured per run: wall time (the DAG run's start to end, from the REST API), and the highest RSS sampled while it
ran (every SAMPLE_SECONDS) of the local SageMaker service process and of the Airflow processes (api-server and
scheduler trees: executor workers and task processes included). At the end: the metadata DB's and the local
SageMaker state directory's size, and the service's RSS when started again on that state (and on an empty one).
Checked: every run succeeded or failed in prepare_data (the data and Param checks; the failing task's last error
line is the stated reason), exactly one tuning job per run (by the name
plan_names gives the run), one champion-history record per run. Flatness: the mean of the first 30 runs against
the last 30, goal <= 1.3. Results: a markdown summary and two plots, time and memory per run against run index,
and the champion history as the model's history page draws it (include/pipeline/report_history.py).
"""

from __future__ import annotations

import argparse
import datetime
import json
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS_DIR, header, save_results
from harness.airflow_processes import Airflow
from harness.local_sagemaker import REGION, ROOT, LocalSageMakerProcess, wait_until

RESULTS = RESULTS_DIR / "backfill_year.md"
DAG_ID = "hpo_nightly"
BUCKET = "backfill-year"
FIRST_LANDED = datetime.date(2013, 1, 1)
FULL_YEAR = (datetime.date(2013, 2, 1), datetime.date(2013, 12, 31))
BUDGET = {
    "strategy": "Random",
    "early_stopping": "Off",
    "stop_on_overfit": False,
    "max_jobs": 2,
    "max_parallel_jobs": 2,
    "hyperparameters": {"num_round": 20},
    "training_window_days": 7,
    "validation_days": 1,
    "smoke_threshold": 0.0,
}
WINDOW = 30  # runs compared at each end
GOAL = 1.3
SAMPLE_SECONDS = 2.0
MIB = 2**20


@dataclass
class Run:
    run_id: str
    holdout: str
    state: str
    start: float  # epoch seconds
    end: float
    reason: str = ""  # a failed run: "<task>: <last error line>"
    data_reason: bool = False  # failed in prepare_data, which checks the data and the Params
    tuning_jobs: int = 0
    records: int = 0
    sagemaker_rss: float = 0.0  # MiB, highest sampled during the run
    airflow_rss: float = 0.0

    @property
    def wall(self) -> float:
        return self.end - self.start


@dataclass
class Sampler:
    """RSS of the local SageMaker service process and of the Airflow process trees, every SAMPLE_SECONDS."""

    sagemaker: LocalSageMakerProcess
    airflow: Airflow
    samples: list[tuple[float, float, float]] = field(default_factory=list)  # (epoch s, sagemaker MiB, airflow MiB)
    done: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        import psutil

        def rss(pids: set[int]) -> float:
            total = 0
            for pid in pids:
                try:
                    total += psutil.Process(pid).memory_info().rss
                except psutil.NoSuchProcess:  # a task process that just ended
                    pass
            return total / MIB

        assert self.sagemaker.process is not None
        while not self.done.is_set():
            self.samples.append((time.time(), rss({self.sagemaker.process.pid}), rss(self.airflow.pids())))
            self.done.wait(SAMPLE_SECONDS)


def first_last(values: list[float], window: int = WINDOW) -> tuple[float, float, float]:
    """(mean of the first `window` values, mean of the last `window`, last / first). Fewer than 2 × window values
    make the two windows overlap (all of them, for a smoke run): the ratio then says little."""
    first, last = statistics.fmean(values[:window]), statistics.fmean(values[-window:])
    return first, last, last / first if first else float("nan")


def environment(home: Path, sagemaker: LocalSageMakerProcess) -> dict[str, str]:
    """Airflow's settings for every process: its own home and DB, the project's DAGs, the private local SageMaker
    as aws_default, and the Variables the DAGs read."""
    bundles = [
        {"name": "dags-folder", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle", "kwargs": {}}
    ]
    connection = {
        "conn_type": "aws",
        "login": "testing",
        "password": f"backfill-{secrets.token_hex(8)}",
        "extra": {"endpoint_url": sagemaker.url, "region_name": REGION},
    }
    return {
        **sagemaker.environ(),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(bundles),
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(connection),
        "AIRFLOW_VAR_HPO_BUCKET": BUCKET,
        "AIRFLOW_VAR_HPO_POLL_SECONDS": "1",
        "AIRFLOW_VAR_FLIGHT_DELAY_ENDPOINT_NAME": f"{BUCKET}-endpoint",
    }


def epoch(stamp: str) -> float:
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def backfill_runs(airflow: Airflow) -> list[dict[str, Any]]:
    """Every backfill run of the DAG (REST API, page by page), oldest logical date first."""
    found: list[dict[str, Any]] = []
    while True:
        page = airflow.call(
            "GET", f"/dags/{DAG_ID}/dagRuns?run_type=backfill&order_by=logical_date&limit=100&offset={len(found)}"
        )
        found += page["dag_runs"]
        if len(found) >= page["total_entries"] or not page["dag_runs"]:
            return found


def last_error(home: Path, run_id: str, task_id: str) -> str:
    """The last error a task's last attempt logged (Airflow 3 task logs are JSON lines), as "Type: message"."""
    logs = sorted((home / "logs").glob(f"dag_id={DAG_ID}/run_id={run_id}/task_id={task_id}/attempt=*.log"))
    if not logs:
        return "(no log)"
    said = "(no error line in the log)"
    for line in logs[-1].read_text(errors="replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("level") in ("error", "critical"):
            detail = (event.get("error_detail") or [{}])[-1]
            said = f"{detail['exc_type']}: {detail.get('exc_value', '')}" if "exc_type" in detail else event["event"]
    return said


def failure(airflow: Airflow, home: Path, run_id: str) -> tuple[str, bool]:
    """A failed run's reason ("<task>: <error>") and whether it is a data reason (prepare_data failed)."""
    from urllib.parse import quote

    instances = airflow.call("GET", f"/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}/taskInstances")["task_instances"]
    failed = [ti["task_id"] for ti in instances if ti["state"] == "failed"]
    if not failed:
        return "no task failed", False
    return f"{failed[0]}: {last_error(home, run_id, failed[0])}", failed == ["prepare_data"]


def collect(
    airflow: Airflow, home: Path, sagemaker: LocalSageMakerProcess, sampler: Sampler
) -> tuple[list[Run], list[dict[str, Any]], int]:
    """The runs with their checks and memory, the champion history, and tuning jobs that match no run."""
    from include.pipeline.champion import read_history
    from include.pipeline.plan import plan_names
    from include.pipeline.spec import SPECS_DIR, load_spec

    spec = load_spec(SPECS_DIR / "flight_delay.yaml")
    sm = sagemaker.client("sagemaker")
    tuning_jobs = [
        summary["HyperParameterTuningJobName"]
        for page in sm.get_paginator("list_hyper_parameter_tuning_jobs").paginate()
        for summary in page["HyperParameterTuningJobSummaries"]
    ]
    history = read_history(sagemaker.client("s3"), BUCKET, spec.history_prefix)
    runs = []
    for found in backfill_runs(airflow):
        run = Run(
            run_id=found["dag_run_id"],
            holdout=found["logical_date"][:10],
            state=found["state"],
            start=epoch(found["start_date"]),
            end=epoch(found["end_date"]),
        )
        if run.state != "success":
            run.reason, run.data_reason = failure(airflow, home, run.run_id)
        run.tuning_jobs = tuning_jobs.count(plan_names(spec, DAG_ID, run.run_id).tuning_job)
        run.records = sum(1 for record in history if record.get("run_id") == run.run_id)
        during = [s for s in sampler.samples if run.start <= s[0] <= run.end]
        run.sagemaker_rss = max((s[1] for s in during), default=float("nan"))
        run.airflow_rss = max((s[2] for s in during), default=float("nan"))
        runs.append(run)
    matched = sum(run.tuning_jobs for run in runs)
    return runs, history, len(tuning_jobs) - matched


def size(path: Path) -> float:
    """MiB of a file, or of every file under a directory."""
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / MIB


def backfill(start: datetime.date, end: datetime.date, root: Path) -> dict[str, Any]:
    """Run the whole backfill on a private setup under root; what report() needs."""
    from include.pipeline.ingest import land
    from include.pipeline.spec import SPECS_DIR, load_spec

    days = (end - start).days + 1
    home, logs = root / "airflow-home", root / "logs"
    home.mkdir()
    logs.mkdir()
    sagemaker = LocalSageMakerProcess(root / "sagemaker-state").start()
    airflow = Airflow(logs, environment(home, sagemaker))
    sampler = Sampler(sagemaker, airflow)
    thread = threading.Thread(target=sampler.run, daemon=True)
    try:
        print(f"landing {FIRST_LANDED}..{end} ...", flush=True)
        land(sagemaker.client("s3"), BUCKET, load_spec(SPECS_DIR / "flight_delay.yaml"), FIRST_LANDED, end)
        airflow.cli("db", "migrate")
        airflow.cli("dags", "reserialize")
        airflow.start("api-server")
        # A paused DAG gets no runs, backfills included. Unpausing also schedules a run for today, which skips
        # (the data ends on 2013-12-31) and is no backfill run.
        airflow.cli("dags", "unpause", DAG_ID)
        thread.start()
        began = time.time()
        # The backfill's runs are created before the scheduler starts: a scheduler loop that loaded a run while
        # `backfill create` was still writing them died on SQLAlchemy's ObjectDeletedError (Airflow 3.3, SQLite).
        airflow.cli(
            "backfill",
            "create",
            "--dag-id",
            DAG_ID,
            "--from-date",
            start.isoformat(),
            "--to-date",
            end.isoformat(),
            "--max-active-runs",
            "1",
            "--dag-run-conf",
            json.dumps(BUDGET),
        )
        airflow.start("scheduler")
        print(f"backfill of {days} runs created; waiting ...", flush=True)

        def progress() -> list[dict[str, Any]]:
            if airflow.processes["scheduler"].poll() is not None:
                raise RuntimeError(f"the scheduler exited; its log: {logs / 'scheduler.log'}")
            runs = backfill_runs(airflow)
            ended = sum(r["state"] in ("success", "failed") for r in runs)
            print(f"  {ended}/{days} runs ended after {time.time() - began:.0f} s", flush=True)
            return runs

        wait_until(
            progress,
            lambda runs: len(runs) == days and all(r["state"] in ("success", "failed") for r in runs),
            f"{days} backfill runs",
            timeout=600 + 300 * days,
            interval=20,
        )
        sampler.done.set()
        thread.join()
        runs, history, unmatched = collect(airflow, home, sagemaker, sampler)
        found = {
            "runs": runs,
            "history": history,
            "unmatched": unmatched,
            "total": max(run.end for run in runs) - began,
            "db_mib": size(home / "airflow.db"),
            "state_mib": size(root / "sagemaker-state"),
        }
    finally:
        sampler.done.set()
        airflow.stop()
        sagemaker.stop()
    found["restarted_mib"] = restarted_rss(root / "sagemaker-state")
    found["empty_mib"] = restarted_rss(root / "empty-state")
    return found


def restarted_rss(state: Path) -> float:
    """The local SageMaker's RSS (MiB) once started on `state` and answering: what the state it restores costs in
    memory. Against the service at the end of the backfill, the rest is what it holds only in memory and its heap's
    history."""
    import psutil

    with LocalSageMakerProcess(state) as server:
        server.client("sagemaker").list_training_jobs(MaxResults=100)
        server.client("s3").list_buckets()
        time.sleep(2)
        assert server.process is not None  # started by the with block
        return psutil.Process(server.process.pid).memory_info().rss / MIB


def plots(runs: list[Run], history: list[dict[str, Any]], output: Path) -> list[str]:
    """Time and memory per run against run index, and the champion history as the history page draws it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    from include.pipeline.report_history import HISTORY_PNG, build_history

    per_run = output.with_name(f"{output.stem}_per_run.png")
    index = list(range(1, len(runs) + 1))
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    left.plot(index, [r.wall for r in runs], marker=".", linewidth=0.8)
    left.set(xlabel="backfill run (logical date order)", ylabel="wall time (s)", title="Time per run", ylim=(0, None))
    right.plot(index, [r.sagemaker_rss for r in runs], marker=".", linewidth=0.8, label="local SageMaker service")
    right.plot(index, [r.airflow_rss for r in runs], marker=".", linewidth=0.8, label="Airflow processes")
    right.set(xlabel="backfill run (logical date order)", ylabel="max RSS during the run (MiB)", ylim=(0, None))
    right.set_title("Memory per run")
    right.legend(fontsize="small")
    for axes in (left, right):
        axes.grid(alpha=0.3)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    figure.tight_layout()
    figure.savefig(per_run, dpi=100)
    plt.close(figure)
    lines = ["", f"![time and memory per backfill run against run index]({per_run.name})"]
    image = build_history("flight_delay", history).images.get(HISTORY_PNG)
    if image:
        champion = output.with_name(f"{output.stem}_history.png")
        champion.write_bytes(image)
        lines += [
            "",
            "The backfill's champion history as the model's history page draws it: each day's challenger (held-out "
            "AUC) and the champion it faced (the winner of the earlier days).",
            "",
            f"![champion history: held-out AUC per day, champion vs challenger]({champion.name})",
        ]
    return lines


def report(start: datetime.date, end: datetime.date, found: dict[str, Any]) -> str:
    runs: list[Run] = found["runs"]
    succeeded = [r for r in runs if r.state == "success"]
    failed = [r for r in runs if r.state != "success"]
    wall = first_last([r.wall for r in runs])
    sm_rss = first_last([r.sagemaker_rss for r in runs])
    af_rss = first_last([r.airflow_rss for r in runs])

    def verdict(ok: bool) -> str:
        return "yes" if ok else "**NO**"

    overlap = len(runs) < 2 * WINDOW

    def flat(row: str, values: tuple[float, float, float], unit: str) -> str:
        first, last, ratio = values
        judged = "n/a (the windows overlap)" if overlap else verdict(ratio <= GOAL)
        return f"| {row} | {first:.1f} {unit} → {last:.1f} {unit}: {ratio:.2f}× | {judged} |"

    def counts(values: list[int]) -> str:
        return ", ".join(f"{n} run(s) with {v}" for v, n in sorted({v: values.count(v) for v in values}.items()))

    lines = [
        "| check | result | as it should be |",
        "|---|---|---|",
        f"| runs | {len(runs)} ({start}..{end}) | {verdict(len(runs) == (end - start).days + 1)} |",
        f"| succeeded | {len(succeeded)} | |",
        f"| failed | {len(failed)}, {sum(r.data_reason for r in failed)} for a data reason (prepare_data) | "
        f"{verdict(all(r.data_reason for r in failed))} |",
        f"| tuning jobs per run | {counts([r.tuning_jobs for r in runs])}; {found['unmatched']} matching no run | "
        f"{verdict(all(r.tuning_jobs == 1 for r in runs) and not found['unmatched'])} |",
        f"| champion-history records per run | {counts([r.records for r in runs])} | "
        f"{verdict(all(r.records == 1 for r in runs))} |",
        flat(f"wall time per run, first {WINDOW} → last {WINDOW}", wall, "s"),
        flat(f"max RSS per run, local SageMaker service, first {WINDOW} → last {WINDOW}", sm_rss, "MiB"),
        flat(f"max RSS per run, Airflow processes, first {WINDOW} → last {WINDOW}", af_rss, "MiB"),
        f"| whole backfill | {found['total']:.0f} s from `backfill create` to the last run's end "
        f"({found['total'] / len(runs):.1f} s per run) | |",
        f"| metadata DB at the end | {found['db_mib']:.1f} MiB | |",
        f"| local SageMaker state directory at the end | {found['state_mib']:.1f} MiB | |",
        f"| local SageMaker RSS after a restart on that state (on an empty one) | {found['restarted_mib']:.1f} MiB "
        f"({found['empty_mib']:.1f} MiB) | |",
    ]
    if overlap:
        lines += [
            "",
            f"Fewer than {2 * WINDOW} runs: the first and last {WINDOW} overlap, so the ratios say nothing about "
            "growth.",
        ]
    if failed:
        lines += ["", "Failed runs:", ""] + [f"- {r.holdout} ({r.run_id}): {r.reason}" for r in failed]
    return "\n".join(lines)


def per_run(runs: list[Run]) -> str:
    lines = [
        "<details><summary>Per run</summary>",
        "",
        "| # | held out | state | wall (s) | local SageMaker max RSS (MiB) | Airflow max RSS (MiB) |",
        "|---:|---|---|---:|---:|---:|",
        *(
            f"| {n} | {r.holdout} | {r.state} | {r.wall:.1f} | {r.sagemaker_rss:.0f} | {r.airflow_rss:.0f} |"
            for n, r in enumerate(runs, start=1)
        ),
        "",
        "</details>",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="start", type=datetime.date.fromisoformat, default=FULL_YEAR[0])
    parser.add_argument("--to", dest="end", type=datetime.date.fromisoformat, default=FULL_YEAR[1])
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"markdown results (default {RESULTS})")
    parser.add_argument("--keep", action="store_true", help="keep the temp directory (logs, DB, state) and say where")
    args = parser.parse_args()
    if args.start <= FIRST_LANDED or args.end < args.start or args.end > FULL_YEAR[1]:
        sys.exit(f"--from/--to must lie within {FIRST_LANDED + datetime.timedelta(days=1)}..{FULL_YEAR[1]}")
    root = Path(tempfile.mkdtemp(prefix="backfill-year-"))
    try:
        found = backfill(args.start, args.end, root)
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    runs = found["runs"]
    smoke = (args.start, args.end) != FULL_YEAR
    title = "A year of backfill under a real scheduler"
    lines = header(f"{title} (SMOKE RUN: {len(runs)} runs, not the full year)" if smoke else title)
    if smoke:
        lines.insert(
            2,
            f"**Smoke run** of {args.start}..{args.end} only, to show the benchmark works: not the "
            "year's figures. The full year is `python -m benchmarks.backfill_year` on a quiet machine.\n",
        )
    lines += [
        f"- workload: `airflow backfill create --dag-id {DAG_ID}` over {args.start}..{args.end}, "
        f"--max-active-runs 1, on a private api-server + scheduler (LocalExecutor, parallelism 2, SQLite) and "
        f"local SageMaker; budget per run: `{json.dumps(BUDGET)}` (holdout 1 day)",
        f"- measured: wall time per run = the DAG run's start to end; RSS sampled every {SAMPLE_SECONDS:g} s, per run "
        "the highest sample during it, of the local SageMaker service process (not its training jobs) and of the "
        "Airflow process trees (api-server, scheduler, executor workers, task processes)",
        f"- goal: every run succeeded or failed for a data reason, one tuning job and one champion-history record "
        f"per run, time and memory per run flat (last {WINDOW} / first {WINDOW} <= {GOAL})",
        "",
        report(args.start, args.end, found),
        *plots(runs, found["history"], args.output),
        "",
        per_run(runs),
    ]
    text = "\n".join(lines)
    print(text)
    save_results(args.output, text)


if __name__ == "__main__":
    main()

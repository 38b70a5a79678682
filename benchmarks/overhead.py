"""Per-job overhead of the local SageMaker, against a bare `python script.py` in the same run.

N script-mode training jobs run a script that sleeps S seconds and prints its own start and end
(`script-start=<epoch>` / `script-end=<epoch>`), which the benchmark reads back from CloudWatch Logs.
Overhead per job = (just before create_training_job → first describe, polled every 0.05 s, that shows
Completed) − the script's own runtime. The same N jobs then run 2 at a time for slot utilisation. The
baseline runs the same script N times as a plain subprocess, serially and 2 at a time.

    .venv/bin/python -m benchmarks.overhead [--jobs N] [--sleep S]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS_DIR, header, percentile, ratio, save_results
from harness.local_sagemaker import LocalSageMakerProcess, training_request, upload_source

RESULTS = RESULTS_DIR / "overhead.md"
LOG_GROUP = "/aws/sagemaker/TrainingJobs"
BUCKET = "overhead-bench"
POLL_SAGEMAKER = 0.05  # as a sensor would poll DescribeTrainingJob
POLL_SUBPROCESS = 0.005  # Popen.poll is free; keep the baseline's own granularity out of its overhead
GOAL = 0.5
SCRIPT = b"""\
import os, sys, time
start = time.time()
print(f"script-start={start:.6f}", flush=True)
time.sleep(float(sys.argv[sys.argv.index("--sleep") + 1]))
with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w") as f:
    f.write("slept\\n")
print(f"script-end={time.time():.6f}", flush=True)
"""
STAMP = re.compile(r"script-(start|end)=([0-9.]+)")
PHASES = ("Starting", "Downloading", "Training", "Uploading")


@dataclass
class Job:
    name: str
    submitted: float = 0.0  # epoch seconds, just before the submit call
    returned: float = 0.0  # the submit call returned
    seen_done: float = 0.0  # the first poll that saw it finished
    stamps: dict[str, float] = field(default_factory=dict)  # script-start / script-end
    described: dict[str, Any] = field(default_factory=dict)  # the final DescribeTrainingJob

    @property
    def runtime(self) -> float:
        return self.stamps["end"] - self.stamps["start"]

    @property
    def overhead(self) -> float:
        return self.seen_done - self.submitted - self.runtime

    def transition(self, status: str) -> dict[str, Any]:
        return next(t for t in self.described["SecondaryStatusTransitions"] if t["Status"] == status)

    def phases(self) -> dict[str, float]:
        """Additive split of the overhead, on the one clock client, server and script share."""
        at = {s: self.transition(s)["StartTime"].timestamp() for s in (*PHASES, "Completed")}
        return {
            "CreateTrainingJob until the job exists": self.described["CreationTime"].timestamp() - self.submitted,
            "Starting": at["Downloading"] - at["Starting"],
            "Downloading (channels, sourcedir.tar.gz)": at["Training"] - at["Downloading"],
            "Training: until script-start (Popen, interpreter)": self.stamps["start"] - at["Training"],
            "Training: script-end until Uploading (exit seen, logs)": at["Uploading"] - self.stamps["end"],
            "Uploading (model.tar.gz)": at["Completed"] - at["Uploading"],
            "Completed until the client sees it (0.05 s poll)": self.seen_done - at["Completed"],
        }


def parse_stamps(text: str) -> dict[str, float]:
    return {kind: float(value) for kind, value in STAMP.findall(text)}


def drive(
    jobs: list[Job], submit: Callable[[Job], Any], done: Callable[[Job, Any], bool], slots: int, poll: float
) -> float:
    """Run jobs `slots` at a time, starting the next as soon as one is seen finished. Returns wall seconds."""
    pending, running = list(jobs), list[tuple[Job, Any]]()
    while pending or running:
        while pending and len(running) < slots:
            job = pending.pop(0)
            job.submitted = time.time()
            handle = submit(job)
            job.returned = time.time()
            running.append((job, handle))
        time.sleep(poll)
        for job, handle in list(running):
            if done(job, handle):
                job.seen_done = time.time()
                running.remove((job, handle))
    return max(j.seen_done for j in jobs) - min(j.submitted for j in jobs)


def sagemaker_driver(server: LocalSageMakerProcess, sleep: float) -> Callable[[list[Job], int], float]:
    sm, s3, logs = server.client("sagemaker"), server.client("s3"), server.client("logs")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="train/train.csv", Body=b"1,0.5\n0,0.1\n")
    source = upload_source(s3, BUCKET, {"sleep.py": SCRIPT}, "code/sourcedir.tar.gz")
    hyperparameters = {"sagemaker_program": "sleep.py", "sagemaker_submit_directory": source, "sleep": str(sleep)}

    def submit(job: Job) -> None:
        request = training_request(
            job.name, {"train": f"s3://{BUCKET}/train/"}, f"s3://{BUCKET}/output", hyperparameters
        )
        sm.create_training_job(**request)

    def done(job: Job, _: None) -> bool:
        described = sm.describe_training_job(TrainingJobName=job.name)
        if described["TrainingJobStatus"] == "InProgress":
            return False
        if described["TrainingJobStatus"] != "Completed":
            raise RuntimeError(f"{job.name}: {described['TrainingJobStatus']} {described.get('FailureReason')}")
        job.described = described
        return True

    def run(jobs: list[Job], slots: int) -> float:
        wall = drive(jobs, submit, done, slots, POLL_SAGEMAKER)
        for job in jobs:  # the script's own clock, as shipped to CloudWatch Logs before Completed
            (stream,) = logs.describe_log_streams(logGroupName=LOG_GROUP, logStreamNamePrefix=f"{job.name}/")[
                "logStreams"
            ]
            events = logs.get_log_events(
                logGroupName=LOG_GROUP, logStreamName=stream["logStreamName"], startFromHead=True
            )["events"]
            job.stamps = parse_stamps("\n".join(e["message"] for e in events))
        return wall

    return run


def subprocess_driver(workdir: Path, sleep: float) -> Callable[[list[Job], int], float]:
    script = workdir / "sleep.py"
    script.write_bytes(SCRIPT)
    env = {**os.environ, "SM_MODEL_DIR": str(workdir)}

    def submit(job: Job) -> subprocess.Popen[bytes]:
        argv = [sys.executable, str(script), "--sleep", str(sleep)]
        return subprocess.Popen(argv, stdout=subprocess.PIPE, env=env, cwd=workdir)

    def done(job: Job, process: subprocess.Popen[bytes]) -> bool:
        if process.poll() is None:
            return False
        job.stamps = parse_stamps(process.communicate()[0].decode())
        return True

    return lambda jobs, slots: drive(jobs, submit, done, slots, POLL_SUBPROCESS)


def utilisation(jobs: list[Job], wall: float, slots: int) -> float:
    return sum(j.runtime for j in jobs) / (slots * wall)


def report(args: argparse.Namespace, results: dict[str, Any]) -> tuple[str, list[str]]:
    sm, sp = results["sagemaker"], results["subprocess"]
    sm_over, sp_over = [j.overhead for j in sm["serial"]], [j.overhead for j in sp["serial"]]
    sm_util, sp_util = utilisation(sm["pair"], sm["pair_wall"], 2), utilisation(sp["pair"], sp["pair_wall"], 2)
    rows = [
        ("median overhead per job (s)", statistics.median(sm_over), statistics.median(sp_over)),
        ("p95 overhead per job (s)", percentile(sm_over, 0.95), percentile(sp_over, 0.95)),
        ("max overhead per job (s)", max(sm_over), max(sp_over)),
        (
            "median overhead per job, 2 in flight (s)",
            *(statistics.median(j.overhead for j in r["pair"]) for r in (sm, sp)),
        ),
        ("median script runtime (s)", *(statistics.median(j.runtime for j in r["serial"]) for r in (sm, sp))),
        (f"wall, {args.jobs} jobs serially (s)", sm["serial_wall"], sp["serial_wall"]),
        (f"wall, {args.jobs} jobs 2 at a time (s)", sm["pair_wall"], sp["pair_wall"]),
        ("slot utilisation, 2 in flight", sm_util, sp_util),
    ]
    splits = [j.phases() for j in sm["serial"]]
    first = sm["warmup"].phases()
    bare = {  # the parts a bare subprocess has too: launch to script-start, script-end to exit seen
        "Training: until script-start (Popen, interpreter)": [j.stamps["start"] - j.submitted for j in sp["serial"]],
        "Training: script-end until Uploading (exit seen, logs)": [j.seen_done - j.stamps["end"] for j in sp["serial"]],
    }
    lines = [
        "| metric | local SageMaker | bare `python sleep.py` | ratio |",
        "|---|---:|---:|---:|",
        *(f"| {name} | {a:.3f} | {b:.3f} | {ratio(a, b)} |" for name, a, b in rows),
        "",
        f"Where the overhead goes, over the {args.jobs} serial jobs (SecondaryStatusTransitions, the script's own "
        "stamps and the client's clock; the parts add up to the overhead):",
        "",
        "| phase | median (s) | p95 (s) | first job after start-up (s) | bare `python sleep.py`, median (s) |",
        "|---|---:|---:|---:|---:|",
    ]
    for phase in splits[0]:
        values = [s[phase] for s in splits]
        base = f"{statistics.median(bare[phase]):.3f}" if phase in bare else ""
        lines.append(
            f"| {phase} | {statistics.median(values):.3f} | {percentile(values, 0.95):.3f} | {first[phase]:.3f} "
            f"| {base} |"
        )
    for phase in PHASES:
        jobs = [*sm["serial"], sm["warmup"]]
        values = [(t := j.transition(phase))["EndTime"].timestamp() - t["StartTime"].timestamp() for j in jobs]
        lines.append(
            f"| SecondaryStatusTransitions {phase} (whole) | {statistics.median(values[:-1]):.3f} | "
            f"{percentile(values[:-1], 0.95):.3f} | {values[-1]:.3f} | |"
        )
    lines.append(
        f"| **overhead** | {statistics.median(sm_over):.3f} | {percentile(sm_over, 0.95):.3f} | "
        f"{sm['warmup'].overhead:.3f} | {statistics.median(sp_over):.3f} |"
    )
    median, biggest = statistics.median(sm_over), max(splits[0], key=lambda p: statistics.median(s[p] for s in splits))
    verdict = "meets" if median <= GOAL else "misses"
    interpretation = [
        f"Median overhead {median:.2f} s per job {verdict} the ≤ {GOAL} s goal (Syne Tune's local backend: ~1 s per "
        f"trial); it is {median / statistics.median(sp_over):.1f}× a bare interpreter launch "
        f"({statistics.median(sp_over):.3f} s), and only the first job after start-up pays more "
        f"({sm['warmup'].overhead:.2f} s).",
        f"No single part dominates: the largest is {biggest} ({statistics.median(s[biggest] for s in splits):.3f} s "
        f"median); with 2 jobs in flight the slots are busy {sm_util:.0%} of the time (bare subprocesses: "
        f"{sp_util:.0%}).",
    ]
    return "\n".join(lines), interpretation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=20, help="jobs per measurement (default 20)")
    parser.add_argument("--sleep", type=float, default=1.0, help="seconds the script sleeps (default 1.0)")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="overhead-bench-") as tmp:
        with LocalSageMakerProcess(state_dir=Path(tmp) / "state") as server:
            run = sagemaker_driver(server, args.sleep)
            warmup = [Job("warmup")]  # pays the server's lazy start-up (boto3 clients, imports): reported apart
            run(warmup, 1)
            serial = [Job(f"serial-{i:03d}") for i in range(args.jobs)]
            pair = [Job(f"pair-{i:03d}") for i in range(args.jobs)]
            results["sagemaker"] = {
                "warmup": warmup[0],
                "serial": serial,
                "serial_wall": run(serial, 1),
                "pair": pair,
                "pair_wall": run(pair, 2),
            }
        run = subprocess_driver(Path(tmp), args.sleep)
        serial, pair = [Job(f"serial-{i}") for i in range(args.jobs)], [Job(f"pair-{i}") for i in range(args.jobs)]
        results["subprocess"] = {
            "serial": serial,
            "serial_wall": run(serial, 1),
            "pair": pair,
            "pair_wall": run(pair, 2),
        }
    table, interpretation = report(args, results)
    print(table)
    print()
    print("\n".join(interpretation))
    save_results(
        RESULTS,
        "\n".join(header("Local SageMaker: per-job overhead")) + "\n"
        f"- N={args.jobs} jobs, script sleeps S={args.sleep} s\n"
        f"- overhead per job = (just before CreateTrainingJob → first DescribeTrainingJob showing Completed, polled "
        f"every {POLL_SAGEMAKER} s) − the script's own runtime (its script-start/script-end stamps, read from "
        f"CloudWatch Logs); baseline: the same script as `python sleep.py`, polled every {POLL_SUBPROCESS} s. "
        f"Slot utilisation = Σ script runtimes / (2 × wall). One warm-up job runs first and is not counted.\n\n"
        f"{table}\n\n" + "\n".join(interpretation) + "\n",
    )


if __name__ == "__main__":
    main()

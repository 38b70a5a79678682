"""S3 persistence: the gateway's on-disk mirror against moto's own recorder/replay, in the same run.

Three servers get the same workload from the same boto3 client code, each in its own process:

1. baseline: moto's `ThreadedMotoServer`, no persistence (a restart loses everything);
2. moto's recorder: the same server with `MOTO_ENABLE_RECORDING=True` (every request is appended to a file);
   the restart replays that file through `POST /moto-api/recorder/replay-recording`;
3. the local SageMaker gateway, whose S3 mirror (`include/local_sagemaker/s3_persistence.py`) writes moto's
   objects to disk after every mutating request and restores them at start-up.

Workload, like a pipeline rewriting partitions: N PUTs of SIZE bytes; one 20 MiB `upload_file` with an 8 MiB
multipart threshold (3 parts, sent concurrently as boto3 does by default); N/10 of the objects rewritten (new
bytes, new metadata), N/30 rewritten again; 3 re-PUT with identical bytes but new metadata (an idempotent
re-run); N/20 deleted (half DeleteObject, half DeleteObjects), 3 of those written again. Then each server is
stopped and started again on the same state, and every key is read back: bytes, Content-Type, user metadata and
ETag against the last write, deleted keys absent, nothing extra.

    .venv/bin/python -m benchmarks.s3_persistence [--objects N] [--size BYTES] [--kill]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS_DIR, ROOT, header, percentile, ratio, save_results
from harness.local_sagemaker import REGION, LocalSageMakerProcess, free_port

RESULTS = RESULTS_DIR / "s3_persistence.md"
BUCKET = "persistence-bench"
MULTIPART_KEY = "exports/model-input.bin"
MULTIPART_SIZE = 20 * 2**20
MULTIPART_THRESHOLD = 8 * 2**20
PARQUET = "application/vnd.apache.parquet"
REQUEST_LINE = re.compile(r'"(GET|PUT|POST|DELETE|HEAD) ([^ ?"]*)\??([^ "]*) HTTP/1\.1" (\d{3})')


# --- servers -------------------------------------------------------------------------------------------


def serve_moto(port: int) -> None:
    """Child process: moto's ThreadedMotoServer until SIGTERM (recording is configured by the environment)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("ready", flush=True)
    while not stop.wait(0.2):
        pass
    server.stop()


class MotoServer:
    """moto's ThreadedMotoServer in a child process, optionally with its recorder on."""

    def __init__(self, workdir: Path, record: bool) -> None:
        self.workdir = workdir
        self.recording = workdir / "moto_recording.jsonl" if record else None
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.restore_seconds = 0.0
        self.restore_error = ""
        self.starts = 0

    @property
    def log_path(self) -> Path:
        return self.workdir / f"moto-{self.starts}.log"

    def start(self, timeout: float = 60) -> None:
        self.starts += 1
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("MOTO_")}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))  # for -m, from workdir
        if self.recording is not None:
            env["MOTO_ENABLE_RECORDING"] = "True"
            env["MOTO_RECORDER_FILEPATH"] = str(self.recording)
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.s3_persistence", "--serve-moto", str(port)],
            cwd=self.workdir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready or self.process.stdout.readline().strip() != b"ready":
            raise RuntimeError(f"moto server did not start: {self.log_path.read_text()[-2000:]}")
        self.url = f"http://127.0.0.1:{port}"

    def pause(self) -> None:
        """Stop recording: the log should hold the workload, not the benchmark's own read-back check."""
        if self.recording is not None:
            request = urllib.request.Request(self.url + "/moto-api/recorder/stop-recording", data=b"", method="POST")  # noqa: S310
            with urllib.request.urlopen(request, timeout=30) as reply:  # noqa: S310 - loopback
                reply.read()

    def restore(self) -> None:
        if self.recording is None:
            return
        started = time.perf_counter()
        url = self.url + "/moto-api/recorder/replay-recording"
        request = urllib.request.Request(url, data=b"", method="POST")  # noqa: S310 - loopback
        try:
            with urllib.request.urlopen(request, timeout=300) as reply:  # noqa: S310 - loopback
                reply.read()
        except OSError as exc:  # HTTPError included: the replay stops at the first request it cannot send
            self.restore_error = f"replay-recording failed: {exc}"
        self.restore_seconds = time.perf_counter() - started

    def diagnose(self) -> str:
        """What the replay did: where an undecodable log line stopped it, which replayed requests failed."""
        if self.recording is None:
            return ""
        lines, first_bad, interleaved = 0, 0, False
        with open(self.recording, "rb") as handle:
            for line in handle:
                lines += 1
                if first_bad:
                    continue
                try:
                    json.loads(line)
                except ValueError:
                    first_bad = lines
                    interleaved = b'}{"headers"' in line
        notes = [f"log of {lines} lines"]
        if first_bad:
            why = " (two concurrent requests' records interleaved on one line)" if interleaved else ""
            notes.append(f"replay stopped at undecodable line {first_bad}{why}, the rest was never replayed")
        # werkzeug logs the replay-recording call when it returns: the replayed requests come before it
        replay_log = self.log_path.read_text(errors="replace").split("/moto-api/recorder/replay-recording")[0]
        failed: Counter[str] = Counter()
        for method, path, query, status in REQUEST_LINE.findall(replay_log):
            if int(status) >= 400 and not path.startswith("/moto-api/"):
                if "uploadId=" in query:
                    call = "UploadPart" if method == "PUT" else "CompleteMultipartUpload"
                    failed[f"{call} with the recorded uploadId → {status}"] += 1
                else:
                    failed[f"{method} {path} → {status}"] += 1
        if failed:
            notes.append("replayed requests that failed: " + ", ".join(f"{n}× {what}" for what, n in failed.items()))
        return ", ".join(notes)

    def stop(self, kill: bool = False) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process and self.process.stdout:
            self.process.stdout.close()

    def disk_bytes(self) -> int:
        return self.recording.stat().st_size if self.recording and self.recording.exists() else 0


class GatewayServer:
    """The local SageMaker gateway; its S3 mirror lives in <state_dir>/s3."""

    def __init__(self, workdir: Path) -> None:
        self.state_dir = workdir / "state"
        self.process: LocalSageMakerProcess | None = None
        self.url = ""
        self.restore_seconds = 0.0  # restore happens inside start-up, before the port answers
        self.restore_error = ""

    def start(self, timeout: float = 60) -> None:
        self.process = LocalSageMakerProcess(state_dir=self.state_dir).start(timeout)
        self.url = self.process.url

    def pause(self) -> None:
        pass

    def restore(self) -> None:
        pass

    def diagnose(self) -> str:
        return ""

    def stop(self, kill: bool = False) -> None:
        if self.process:
            self.process.kill() if kill else self.process.stop()

    def disk_bytes(self) -> int:
        return sum(p.stat().st_size for p in (self.state_dir / "s3").rglob("*") if p.is_file())


# --- workload and checks -------------------------------------------------------------------------------


def s3_client(url: str) -> Any:
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto accepts any
        region_name=REGION,
    )
    # No retries: a server error must show up, not be papered over by a second attempt.
    return session.client("s3", endpoint_url=url, config=Config(retries={"total_max_attempts": 1}))


@dataclass
class Expected:
    sha256: str
    content_type: str | None = None  # None: whatever the server answered before the restart
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass
class Step:
    kind: str  # warmup, put, delete, delete_many, multipart
    key: str = ""
    body: bytes = b""
    content_type: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    keys: list[str] = field(default_factory=list)
    initial: bool = False


@dataclass
class Plan:
    steps: list[Step]
    expected: dict[str, Expected]
    deleted: set[str]


def plan_workload(objects: int, size: int, multipart_file: Path, seed: int = 0) -> Plan:
    rng = random.Random(seed)
    # warm-up, not timed: first-request imports and connection set-up
    steps = [Step("warmup", "_warmup", rng.randbytes(size)) for _ in range(10)]
    plan = Plan(steps, {}, {"_warmup"})
    bodies: dict[str, bytes] = {}

    def put(key: str, body: bytes, content_type: str | None = None, metadata: dict[str, str] | None = None) -> None:
        steps.append(Step("put", key, body, content_type, metadata or {}, initial=not bodies.get(key)))
        bodies[key] = body
        plan.expected[key] = Expected(hashlib.sha256(body).hexdigest(), content_type, metadata or {})
        plan.deleted.discard(key)

    keys = [f"features/date=2026-11-{1 + i % 28:02d}/part-{i:05d}.parquet" for i in range(objects)]
    for key in keys:
        put(key, rng.randbytes(size))
    steps.append(Step("multipart", MULTIPART_KEY))  # an export between two rounds of partition writes
    plan.expected[MULTIPART_KEY] = Expected(hashlib.sha256(multipart_file.read_bytes()).hexdigest())
    rewritten = rng.sample(keys, max(1, objects // 10))
    for key in rewritten:  # a re-run rewrites some partitions
        put(key, rng.randbytes(size), PARQUET, {"run": "2"})
    for key in rewritten[: max(1, objects // 30)]:  # and some again
        put(key, rng.randbytes(size), PARQUET, {"run": "3"})
    untouched = [key for key in keys if key not in rewritten]
    for key in untouched[:3]:  # an idempotent re-run: identical bytes, new metadata
        put(key, bodies[key], PARQUET, {"run": "2"})
    doomed = rng.sample(untouched[3:], max(2, objects // 20) - 2) + rewritten[-2:]
    half = len(doomed) // 2
    steps.extend(Step("delete", key) for key in doomed[:half])
    steps.append(Step("delete_many", keys=doomed[half:]))
    for key in doomed:
        del plan.expected[key]
        plan.deleted.add(key)
    for key in doomed[:3]:  # a partition deleted and written again
        put(key, rng.randbytes(size), PARQUET, {"run": "4"})
    return plan


def execute(s3: Any, step: Step, multipart_file: Path) -> None:
    from boto3.s3.transfer import TransferConfig

    if step.kind == "warmup":
        s3.put_object(Bucket=BUCKET, Key=step.key, Body=step.body)
        s3.get_object(Bucket=BUCKET, Key=step.key)["Body"].read()
        s3.delete_object(Bucket=BUCKET, Key=step.key)
    elif step.kind == "put":
        extra: dict[str, Any] = {"ContentType": step.content_type} if step.content_type else {}
        if step.metadata:
            extra["Metadata"] = step.metadata
        s3.put_object(Bucket=BUCKET, Key=step.key, Body=step.body, **extra)
    elif step.kind == "delete":
        s3.delete_object(Bucket=BUCKET, Key=step.key)
    elif step.kind == "delete_many":
        s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": key} for key in step.keys], "Quiet": True})
    elif step.kind == "multipart":
        config = TransferConfig(multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_THRESHOLD)
        s3.upload_file(str(multipart_file), BUCKET, step.key, Config=config)
    else:
        raise ValueError(step.kind)


@dataclass
class Timings:
    put_seconds: list[float] = field(default_factory=list)
    initial_put_seconds: list[float] = field(default_factory=list)
    multipart_seconds: float = 0.0
    total_seconds: float = 0.0  # sum of this server's own write calls


def run_interleaved(clients: list[Any], plan: Plan, multipart_file: Path) -> list[Timings]:
    """Each step goes to every server in turn (rotating who goes first), so background load hits all alike."""
    timings = [Timings() for _ in clients]
    for i, step in enumerate(plan.steps):
        for j in range(len(clients)):
            index = (i + j) % len(clients)
            started = time.perf_counter()
            execute(clients[index], step, multipart_file)
            elapsed = time.perf_counter() - started
            if step.kind == "warmup":
                continue
            timing = timings[index]
            timing.total_seconds += elapsed
            if step.kind == "put":
                timing.put_seconds.append(elapsed)
                if step.initial:
                    timing.initial_put_seconds.append(elapsed)
            elif step.kind == "multipart":
                timing.multipart_seconds = elapsed
    return timings


@dataclass
class Check:
    seconds: float = 0.0
    ok: int = 0
    missing: list[str] = field(default_factory=list)
    wrong_bytes: list[str] = field(default_factory=list)
    wrong_metadata: list[str] = field(default_factory=list)
    etag_changed: list[str] = field(default_factory=list)
    resurrected: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    seen: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (ETag, Content-Type)

    def summary(self, total: int, deleted: int) -> str:
        if not (self.missing or self.wrong_bytes or self.wrong_metadata or self.etag_changed or self.resurrected):
            return f"✔ {self.ok}/{total} keys exact, {deleted}/{deleted} deletes hold"
        problems = [f"{self.ok}/{total} keys exact"]
        for label, keys in (
            ("missing", self.missing),
            ("wrong bytes", self.wrong_bytes),
            ("old/lost metadata", self.wrong_metadata),
            ("ETag changed", self.etag_changed),
            ("deleted key back", self.resurrected),
            ("unexpected key", self.extra),
        ):
            if keys:
                multipart = ("" if len(keys) == 1 else " incl.") + " the multipart one" if MULTIPART_KEY in keys else ""
                multipart = f" ({multipart.strip()})" if multipart else ""
                problems.append(f"{len(keys)} {label}{multipart}")
        return "✘ " + ", ".join(problems)


def check(s3: Any, work: Plan, before: Check | None = None) -> Check:
    from botocore.exceptions import ClientError

    result = Check()
    started = time.perf_counter()
    listed: set[str] = set()
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
            listed.update(item["Key"] for item in page.get("Contents", []))
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "NoSuchBucket":
            raise
    for key, want in work.expected.items():
        try:
            reply = s3.get_object(Bucket=BUCKET, Key=key)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("NoSuchKey", "NoSuchBucket", "404"):
                result.missing.append(key)
                continue
            raise
        body = reply["Body"].read()
        result.seen[key] = (reply["ETag"], reply.get("ContentType", ""))
        good = True
        if hashlib.sha256(body).hexdigest() != want.sha256:
            result.wrong_bytes.append(key)
            good = False
        content_type_ok = reply.get("ContentType") == (
            want.content_type if want.content_type else (before.seen[key][1] if before else reply.get("ContentType"))
        )
        if reply.get("Metadata", {}) != want.metadata or not content_type_ok:
            result.wrong_metadata.append(key)
            good = False
        if before and key in before.seen and before.seen[key][0] != reply["ETag"]:
            result.etag_changed.append(key)
            good = False
        result.ok += good
    result.resurrected = sorted(work.deleted & listed)
    for key in work.deleted - listed:  # the listing may lag; a GET must not find it either
        try:
            s3.head_object(Bucket=BUCKET, Key=key)
            result.resurrected.append(key)
        except ClientError:
            pass
    result.extra = sorted(listed - set(work.expected) - work.deleted)
    result.seconds = time.perf_counter() - started
    return result


@dataclass
class Outcome:
    name: str
    timings: Timings
    before: Check | None = None
    after: Check | None = None
    first_start: float = 0.0
    restart: float = 0.0
    replay: float = 0.0
    disk: int = 0
    restore_error: str = ""
    diagnosis: str = ""


def measure(
    servers: dict[str, MotoServer | GatewayServer], args: argparse.Namespace, root: Path
) -> tuple[Plan, list[Outcome]]:
    multipart_file = root / "multipart.bin"
    multipart_file.write_bytes(random.Random(1).randbytes(MULTIPART_SIZE))
    plan = plan_workload(args.objects, args.size, multipart_file)
    first_starts = []
    for server in servers.values():
        started = time.perf_counter()
        server.start()
        first_starts.append(time.perf_counter() - started)
    clients = [s3_client(server.url) for server in servers.values()]
    for s3 in clients:
        s3.create_bucket(Bucket=BUCKET)
    print("workload …", file=sys.stderr, flush=True)
    timings = run_interleaved(clients, plan, multipart_file)
    outcomes = []
    for (name, server), s3, timing, first_start in zip(servers.items(), clients, timings, first_starts, strict=True):
        print(f"restart: {name} …", file=sys.stderr, flush=True)
        outcome = Outcome(name, timing, first_start=first_start)
        server.pause()
        outcome.before = check(s3, plan)
        server.stop(kill=args.kill)
        outcome.disk = server.disk_bytes()
        started = time.perf_counter()
        server.start()
        server.restore()
        outcome.restart = time.perf_counter() - started
        outcome.replay, outcome.restore_error = server.restore_seconds, server.restore_error
        outcome.after = check(s3_client(server.url), plan, outcome.before)
        outcome.diagnosis = server.diagnose()
        outcomes.append(outcome)
    return plan, outcomes


# --- report ----------------------------------------------------------------------------------------------


def human(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n else "0"


def report(args: argparse.Namespace, plan: Plan, outcomes: list[Outcome]) -> tuple[str, list[str]]:
    base = outcomes[0]
    total, deleted = len(plan.expected), len(plan.deleted)
    puts = len(base.timings.put_seconds)
    payload = puts * args.size + MULTIPART_SIZE
    rows = [
        "| server | PUT median (ms) | PUT p95 (ms) | all writes (s) | writes × baseline | 20 MiB multipart (s) "
        "| restart → all readable (s) | restart × baseline | on disk | after restart | before restart |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for o in outcomes:
        assert o.before and o.after
        t = o.timings
        rows.append(
            f"| {o.name} | {statistics.median(t.put_seconds) * 1e3:.2f} "
            f"| {percentile(t.put_seconds, 0.95, nearest=True) * 1e3:.2f} "
            f"| {t.total_seconds:.2f} | {ratio(t.total_seconds, base.timings.total_seconds)} "
            f"| {t.multipart_seconds:.2f} | {o.restart:.2f} | {ratio(o.restart, base.restart)} "
            f"| {human(o.disk)} | {o.after.summary(total, deleted)} | {o.before.summary(total, deleted)} |"
        )
    tenth = max(1, args.objects // 10)
    rows += [
        "",
        f"PUT latency as the bucket fills (the first and last {tenth} of the {args.objects} initial PUTs), "
        "and where the restart time goes:",
        "",
        "| server | median, first PUTs (ms) | median, last PUTs (ms) | process start, empty (s) "
        "| replay (s) | read-back check after restart (s) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for o in outcomes:
        assert o.after
        first, last = o.timings.initial_put_seconds[:tenth], o.timings.initial_put_seconds[-tenth:]
        rows.append(
            f"| {o.name} | {statistics.median(first) * 1e3:.2f} | {statistics.median(last) * 1e3:.2f} "
            f"| {o.first_start:.2f} | {o.replay:.2f} | {o.after.seconds:.2f} |"
        )
    rows += [
        "",
        f"Written per server: {puts} PUTs + 1 multipart upload = {human(payload)}, {len(plan.deleted) - 1} deletes; "
        f"{total} keys should survive, {deleted} deleted keys (one warm-up key included) should stay deleted.",
        "",
    ]
    details = []
    for o in outcomes[1:]:
        assert o.after
        bad = {
            "missing": o.after.missing,
            "wrong bytes": o.after.wrong_bytes,
            "old/lost metadata": o.after.wrong_metadata,
            "ETag changed": o.after.etag_changed,
            "deleted key back": o.after.resurrected,
            "unexpected key": o.after.extra,
        }
        found = [
            f"{label}: {', '.join(keys[:3])}{' …' if len(keys) > 3 else ''}" for label, keys in bad.items() if keys
        ]
        notes = [note for note in (o.restore_error, o.diagnosis) if note]
        if found or notes:
            details.append(f"- {o.name}: " + "; ".join(notes + found))
    return "\n".join(rows), details


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=300, help="objects PUT before rewrites (default 300)")
    parser.add_argument("--size", type=int, default=64 * 1024, help="bytes per object (default 64 KiB)")
    parser.add_argument("--kill", action="store_true", help="restart after kill -9 instead of SIGTERM")
    parser.add_argument("--serve-moto", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_moto:
        serve_moto(args.serve_moto)
        return
    if args.objects < 60:
        parser.error("--objects must be at least 60")

    import boto3
    import moto

    began = time.perf_counter()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="s3-persistence-") as tmp:
        root = Path(tmp)
        servers: dict[str, MotoServer | GatewayServer] = {}
        for name, workdir, make in (
            ("moto, no persistence (baseline)", root / "moto", lambda d: MotoServer(d, record=False)),
            ("moto recorder + replay", root / "recorder", lambda d: MotoServer(d, record=True)),
            ("local SageMaker gateway (mirror)", root / "gateway", GatewayServer),
        ):
            workdir.mkdir()
            servers[name] = make(workdir)
        try:
            plan, outcomes = measure(servers, args, root)
        finally:
            for server in servers.values():
                server.stop()
    elapsed = time.perf_counter() - began
    table, details = report(args, plan, outcomes)
    base, recorder, gateway = outcomes
    assert recorder.after and gateway.after
    total, deleted = len(plan.expected), len(plan.deleted)

    interpretation = [
        f"- Writes: recorder {ratio(recorder.timings.total_seconds, base.timings.total_seconds)}, gateway mirror "
        f"{ratio(gateway.timings.total_seconds, base.timings.total_seconds)} the baseline's write time "
        f"(median PUT {statistics.median(base.timings.put_seconds) * 1e3:.2f} / "
        f"{statistics.median(recorder.timings.put_seconds) * 1e3:.2f} / "
        f"{statistics.median(gateway.timings.put_seconds) * 1e3:.2f} ms). The mirror fsyncs the changed object "
        "and upserts one SQLite row per write, after comparing the bucket's objects by identity (cheap, but linear "
        "in the bucket's size); the recorder appends base64 bodies to one file, without fsync.",
        f"- Restart: the recorder re-sends every recorded request ({recorder.restart:.2f} s, from a "
        f"{human(recorder.disk)} log that only grows, overwrites, deletes and reads included), the mirror loads the "
        f"{human(gateway.disk)} of live objects ({gateway.restart:.2f} s, {ratio(gateway.restart, base.restart)} "
        "a bare moto start).",
        f"- After restart: recorder {recorder.after.summary(total, deleted)}; "
        f"gateway {gateway.after.summary(total, deleted)}.",
    ]
    text = "\n".join(
        [
            *header(
                "S3 persistence: gateway mirror vs moto recorder/replay",
                f"moto {moto.__version__}",
                f"boto3 {boto3.__version__}",
            ),
            f"- N={args.objects} objects of {args.size} bytes; restart after {'kill -9' if args.kill else 'SIGTERM'}; "
            f"whole run {elapsed:.0f} s; state in {tempfile.gettempdir()} (a disk, fsync is real); 1-min load "
            f"average at start {load:.2f}",
            "- each server runs in its own process; the same boto3 client code (no retries) sends every step to the "
            "three servers in turn, rotating who goes first, so background load falls on all three alike. "
            "PUT latency = each `put_object` call, client side; 'all writes' = the sum of a server's write calls, "
            "deletes and the multipart upload included; 'restart → all readable' = spawn of the new process until it "
            "answers with its state restored (for the recorder: until `replay-recording` returns; its log holds the "
            "workload only, recording is paused for the read-back check before the restart). "
            "'exact' = bytes, Content-Type, user metadata and (after restart) ETag as last written.",
            "",
            table,
            *(["Problems after restart:", "", *details, ""] if details else []),
            "Interpretation:",
            "",
            *interpretation,
            "",
        ]
    )
    print(text)
    save_results(RESULTS, text)


if __name__ == "__main__":
    main()

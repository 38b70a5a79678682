"""Load: 50 clients polling while jobs train, and ListTrainingJobs paging through 1,000+ finished jobs.

Each test runs a private local SageMaker. The first measures what 50 concurrent boto3 clients see (errors, p50,
p99) while two training jobs run; the second seeds the state store with 1,000 finished jobs before the server
starts, as a restart would find them, and checks that every way of paging and filtering the list is exact.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from harness import history
from harness.history import BASE, seeded_status
from harness.local_sagemaker import REGION, LocalSageMakerProcess, training_request, wait_for_job
from tests.integration.test_restart_and_spot import BUCKET, seed_bucket, slow_job
from tests.integration.test_shapes import shape_errors
from tests.reliability.figures import record, scaled

CLIENTS = 50
P99_BOUND_SECONDS = 5.0  # p50 ~0.1 s, p99 0.3-0.9 s alone on 2 cores; 2.6 s next to other workers' jobs
STEP_SECONDS = 0.25  # tests/assets/slow_checkpointer.py's default pace


def sagemaker_clients(server: LocalSageMakerProcess, count: int) -> list[Any]:
    """One client per thread, each with its own connection pool; one session, so the service model loads once."""
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    return [session.client("sagemaker", endpoint_url=server.url) for _ in range(count)]


@dataclass
class ClientRun:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    statuses: set[tuple[str, str]] = field(default_factory=set)  # (job, TrainingJobStatus) as this client saw them


def poll(sm: Any, jobs: list[str], seconds: float, start: threading.Barrier) -> ClientRun:
    """Describe and List calls, back to back, for `seconds`: every call timed, every exception counted."""
    calls: list[Callable[[], Any]] = [
        lambda: sm.describe_training_job(TrainingJobName=jobs[0]),
        lambda: sm.list_training_jobs(MaxResults=10),
        lambda: sm.describe_training_job(TrainingJobName=jobs[1]),
        lambda: sm.list_training_jobs(StatusEquals="InProgress", SortBy="Name", SortOrder="Ascending"),
        lambda: sm.list_hyper_parameter_tuning_jobs(MaxResults=5),
        lambda: sm.list_training_jobs(NameContains="load", MaxResults=1),
    ]
    run = ClientRun()
    start.wait()
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline:
        began = time.perf_counter()
        try:
            answer = calls[i % len(calls)]()
        except Exception as exc:  # any failure is a finding: count it, keep loading
            run.errors.append(f"{type(exc).__name__}: {exc}")
        else:
            if "TrainingJobStatus" in answer:
                run.statuses.add((answer["TrainingJobName"], answer["TrainingJobStatus"]))
        run.latencies.append(time.perf_counter() - began)
        i += 1
    return run


def test_50_clients_polling_while_jobs_train_see_no_errors_and_a_bounded_p99(tmp_path: Path) -> None:
    seconds = scaled(8, 120)
    with LocalSageMakerProcess(tmp_path / "state") as server:
        code = seed_bucket(server)
        clients = sagemaker_clients(server, CLIENTS)
        sm = clients[0]
        builtin, script = "load-xgboost", "load-script"
        # Built-in XGBoost: process start-up dominates, so it trains through the first seconds of the load.
        sm.create_training_job(
            **training_request(builtin, {"train": f"s3://{BUCKET}/data/train/"}, f"s3://{BUCKET}/out")
        )
        # Paced by its steps, this one trains (and uploads a checkpoint per step) for the whole load window.
        sm.create_training_job(**slow_job(script, code, steps=int(seconds / STEP_SECONDS)))

        barrier = threading.Barrier(CLIENTS)
        with ThreadPoolExecutor(CLIENTS) as pool:
            runs = list(pool.map(lambda c: poll(c, [builtin, script], seconds, barrier), clients))

        jobs = [wait_for_job(sm, name, timeout=120) for name in (builtin, script)]
    latencies = sorted(t for run in runs for t in run.latencies)
    errors = [e for run in runs for e in run.errors]
    seen = set().union(*(run.statuses for run in runs))
    percentiles = statistics.quantiles(latencies, n=100)
    p50_ms, p99_ms = round(statistics.median(latencies) * 1000, 1), round(percentiles[98] * 1000, 1)

    record("load", "concurrent clients", CLIENTS)
    record("load", "calls", len(latencies))
    record("load", "errors", len(errors))
    record("load", "p50 ms", p50_ms)
    record("load", "p99 ms", p99_ms)
    assert not errors, f"{len(errors)} of {len(latencies)} calls failed, e.g. {errors[:3]}"
    assert [j["TrainingJobStatus"] for j in jobs] == ["Completed", "Completed"], [j.get("FailureReason") for j in jobs]
    assert {(builtin, "InProgress"), (script, "InProgress")} <= seen, "the load did not overlap the training"
    assert percentiles[98] < P99_BOUND_SECONDS, f"p99 {p99_ms} ms over {len(latencies)} calls (p50 {p50_ms} ms)"


# --- ListTrainingJobs over a large, restored history ---------------------------------------------------------------

SEEDED = scaled(1000, 5000)


def seeded_name(i: int) -> str:
    return history.seeded_name(i, SEEDED)


def seed_history(state_dir: Path) -> None:
    history.seed_history(state_dir, SEEDED)


def list_all(sm: Any, **params: Any) -> tuple[list[str], list[dict[str, Any]]]:
    """Every page of a ListTrainingJobs, following NextToken; each page checked against botocore's output shape."""
    names: list[str] = []
    pages: list[dict[str, Any]] = []
    token: dict[str, str] = {}
    while True:
        page = sm.list_training_jobs(**params, **token)
        assert not shape_errors("ListTrainingJobs", page), shape_errors("ListTrainingJobs", page)
        pages.append(page)
        names += [s["TrainingJobName"] for s in page["TrainingJobSummaries"]]
        if "NextToken" not in page:
            return names, pages
        token = {"NextToken": page["NextToken"]}


def assert_paged(names: list[str], pages: list[dict[str, Any]], expected: list[str], size: int) -> None:
    """Exactly `expected`, in order, each once; full pages but the last, and no NextToken only on the last."""
    assert len(names) == len(set(names)), "a job was listed twice"
    assert names == expected
    assert len(pages) == max(1, -(-len(expected) // size))
    assert all(len(p["TrainingJobSummaries"]) == size for p in pages[:-1])
    assert all("NextToken" in p for p in pages[:-1]) and "NextToken" not in pages[-1]


def assert_filtered(names: list[str], pages: list[dict[str, Any]], expected: list[str], listed: int, size: int) -> None:
    """Exactly `expected`, in order, each once, over as many pages as the `listed` jobs before the filter take."""
    assert names == expected and len(names) == len(set(names))
    assert len(pages) == max(1, -(-listed // size))


def create_failing_job(sm: Any, name: str) -> None:
    """A real job through the API that is cheap: the service cannot run its image, so it fails at once."""
    request = training_request(name, {"train": "s3://history/train/"}, "s3://history/output", image="example/none:1")
    sm.create_training_job(**request)
    assert wait_for_job(sm, name, timeout=30)["TrainingJobStatus"] == "Failed"


def test_list_training_jobs_pages_through_1000_restored_jobs_exactly(tmp_path: Path) -> None:
    seed_history(tmp_path / "state")
    with LocalSageMakerProcess(tmp_path / "state") as server:
        sm = server.client("sagemaker")
        live = [f"live-beta-{n}" for n in range(3)]  # created after the restart, so newer than the history
        for name in live:
            create_failing_job(sm, name)
        check_listing(sm, [seeded_name(i) for i in range(SEEDED)], live)
        check_next_token(sm)


def check_listing(sm: Any, seeded: list[str], live: list[str]) -> None:
    everything = seeded + live  # in creation order
    newest_first = everything[::-1]
    began = time.perf_counter()
    names, pages = list_all(sm, MaxResults=100)
    elapsed_ms = round((time.perf_counter() - began) * 1000)
    assert_paged(names, pages, newest_first, 100)  # default: CreationTime, Descending
    record("load", "jobs listed with pagination", len(names))
    record("load", "ms to list all pages of 100", elapsed_ms)

    assert_paged(*list_all(sm, MaxResults=37, SortBy="CreationTime", SortOrder="Ascending"), everything, 37)
    assert_paged(*list_all(sm, MaxResults=37, SortBy="Name", SortOrder="Ascending"), sorted(everything), 37)
    assert_paged(*list_all(sm, SortBy="Name", SortOrder="Descending"), sorted(everything, reverse=True), 10)
    paginator = sm.get_paginator("list_training_jobs")
    pages = list(paginator.paginate(PaginationConfig={"PageSize": 37}))
    assert [s["TrainingJobName"] for p in pages for s in p["TrainingJobSummaries"]] == newest_first  # boto3 agrees

    beta = [n for n in newest_first if "beta" in n]
    assert_paged(*list_all(sm, NameContains="beta", MaxResults=37), beta, 37)
    status = {**{n: seeded_status(i) for i, n in enumerate(seeded)}, **dict.fromkeys(live, "Failed")}
    failed = [n for n in newest_first if status[n] == "Failed"]
    # With MaxResults, AWS takes each page of 37 first and then keeps its Failed jobs (ListTrainingJobs' reference):
    # the pages are those of the unfiltered listing, filtered.
    assert_filtered(*list_all(sm, StatusEquals="Failed", MaxResults=37), failed, len(everything), 37)
    stopped_beta = [n for i, n in enumerate(seeded) if seeded_status(i) == "Stopped" and "beta" in n][::-1]
    assert_filtered(
        *list_all(sm, StatusEquals="Stopped", NameContains="beta", MaxResults=10), stopped_beta, len(beta), 10
    )
    assert list_all(sm, StatusEquals="Failed")[0] == failed  # without MaxResults: filtered, then paged
    # Seeded job i was created at BASE + 2i s, so odd-second bounds are strict either way.
    after, before = BASE + timedelta(seconds=201), BASE + timedelta(seconds=401)
    window = seeded[101:201][::-1]
    assert_paged(*list_all(sm, CreationTimeAfter=after, CreationTimeBefore=before, MaxResults=37), window, 37)
    assert_paged(*list_all(sm, CreationTimeAfter=BASE + timedelta(days=1), MaxResults=100), live[::-1], 100)
    assert list_all(sm, NameContains="no-such-job")[0] == []
    restored = sm.describe_training_job(TrainingJobName=seeded[0])
    assert restored["TrainingJobStatus"] == "Failed" and not shape_errors("DescribeTrainingJob", restored)


def check_next_token(sm: Any) -> None:
    """A token replays the same page, garbage is a ValidationException, and a job created mid-listing shifts nothing."""
    by_name = {"MaxResults": 37, "SortBy": "Name", "SortOrder": "Ascending"}
    token = sm.list_training_jobs(**by_name)["NextToken"]
    replays = [sm.list_training_jobs(**by_name, NextToken=token)["TrainingJobSummaries"] for _ in range(2)]
    assert replays[0] == replays[1]
    with pytest.raises(ClientError) as error:
        sm.list_training_jobs(NextToken="not-a-token")
    assert error.value.response["Error"]["Code"] == "ValidationException"

    # Newest first, as a client polls while a tuner adds trials: the newcomer must not push an item onto page two.
    before = [
        s["TrainingJobName"]
        for p in sm.get_paginator("list_training_jobs").paginate()
        for s in p["TrainingJobSummaries"]
    ]
    page = sm.list_training_jobs(MaxResults=37)
    create_failing_job(sm, "live-during-paging")
    rest = sm.list_training_jobs(MaxResults=37, NextToken=page["NextToken"])
    seen = [s["TrainingJobName"] for s in page["TrainingJobSummaries"] + rest["TrainingJobSummaries"]]
    assert len(seen) == len(set(seen)), f"{seen[36]} listed on both pages"
    assert seen == before[:74]

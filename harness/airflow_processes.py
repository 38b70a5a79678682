"""A real Airflow (scheduler, API server, ...; LocalExecutor unless told otherwise) for tests: backfills, crashes,
approvals, assets, and CeleryExecutor workers for tests/scale."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.local_sagemaker import ROOT

# The tests' Airflow processes share one SQLite file, which takes one writer at a time; a writer waits up to 5 s for
# the lock by default, which a loaded two-core machine exceeds. `airflow backfill create` then cleans up the runs it
# had already committed, and a scheduler that was scheduling them dies (ObjectDeletedError, Airflow 3.3). Wait 60 s.
SQLITE_CONNECT_ARGS = {"timeout": 60}
CONNECT_ARGS = "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS"
SQLITE_CONNECT_ARGS_PATH = f"{__name__}.SQLITE_CONNECT_ARGS"


class Airflow:
    """Real Airflow components on the session's Airflow DB (LocalExecutor): backfills, worker crashes.

    `env` overrides the defaults: another executor and metadata DB (tests/scale runs CeleryExecutor on PostgreSQL).
    """

    def __init__(self, logs: Path, env: Mapping[str, str] | None = None) -> None:
        import secrets

        from harness.local_sagemaker import free_port

        port = free_port()
        self.logs = logs
        self.env = {
            **os.environ,
            "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'plugins'}",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "2",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            # After a crash, the new scheduler counts the dead one's tasks as orphans within seconds (not 5
            # minutes) and hands them to their next try.
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": "5",
            "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "10",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            # The REST API without logging in, as `airflow standalone` does for a local UI.
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            **(env or {}),
        }
        if not self.env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "sqlite").startswith("sqlite"):
            self.env.pop(CONNECT_ARGS, None)  # SQLite's, not PostgreSQL's
        else:
            self.env.setdefault(CONNECT_ARGS, SQLITE_CONNECT_ARGS_PATH)
        self.api = f"http://127.0.0.1:{port}/api/v2"
        self.processes: dict[str, subprocess.Popen] = {}
        self.commands: dict[str, tuple[list[str], dict[str, str]]] = {}

    def start(self, *components: str) -> None:
        for name in components:
            # Airflow's log server binds every interface; every process here shares one disk, from which the
            # api-server reads task logs, so the scheduler and triggerer run without it (services bind loopback).
            self.start_process(name, [name, *(["--skip-serve-logs"] if name in ("scheduler", "triggerer") else [])])
        if "api-server" in components:
            self.wait_for_api()

    def api_healthy(self, timeout: float = 5) -> bool:
        """Whether the api-server answers its health check now."""
        import urllib.request

        try:
            with urllib.request.urlopen(f"{self.api}/monitor/health", timeout=timeout) as response:  # noqa: S310
                return response.status == 200
        except OSError:  # URLError included: not listening yet
            return False

    def wait_for_api(self, timeout: float = 120) -> None:
        """Until the api-server answers its health check (it takes seconds to boot, longer on a busy machine)."""
        from harness.local_sagemaker import wait_until

        def healthy() -> bool:
            process = self.processes["api-server"]
            if process.poll() is not None:
                raise RuntimeError(f"the api-server exited with {process.returncode}; see {self.logs}/api-server.log")
            return self.api_healthy()

        wait_until(healthy, bool, "the api-server's health check", timeout=timeout, interval=0.5)

    def start_process(self, name: str, args: list[str], env: Mapping[str, str] | None = None) -> subprocess.Popen:
        """`airflow <args>` as component `name` (its log: <logs>/<name>.log), with `env` over the common settings."""
        self.commands[name] = (list(args), dict(env or {}))
        with (self.logs / f"{name}.log").open("ab") as log:
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", "airflow", *args],
                env={**self.env, **(env or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        return self.processes[name]

    def restart(self, name: str, env: Mapping[str, str] | None = None) -> subprocess.Popen:
        """Start a component again as it was started before (a killed one, say), with `env` on top."""
        args, before = self.commands[name]
        return self.start_process(name, args, {**before, **(env or {})})

    def pids(self) -> set[int]:
        """Every running component's process tree (task processes included)."""
        return {pid for process in self.processes.values() for pid in (process.pid, *descendants(process.pid))}

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, timeout: float = 60) -> Any:
        """The REST API at `{self.api}{path}` (no login: the simple auth manager makes everyone an admin here):
        its JSON answer."""
        import json
        import urllib.request

        request = urllib.request.Request(
            self.api + path,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method=method,
        )
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 (our own loopback API)
            return json.load(answer)

    def unpause(self, dag_id: str) -> None:
        """`airflow dags unpause`, through the REST API (the UI's toggle): no CLI process to start."""
        self.call("PATCH", f"/dags/{dag_id}", {"is_paused": False})

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None, logical_date: str | None = None) -> str:
        """A run of `dag_id` as the UI's trigger form starts one (REST, not a CLI process); its run_id."""
        body = {"logical_date": logical_date, "conf": conf or {}}
        return self.call("POST", f"/dags/{dag_id}/dagRuns", body)["dag_run_id"]

    def kill(self, name: str) -> None:
        """SIGKILL a component with everything it started, as when its machine dies (for the scheduler or a
        worker: their task processes too, which put themselves in process groups of their own)."""
        process = self.processes.pop(name)
        kill_tree(process.pid)
        process.wait()

    def cli(self, *args: str, patience: float = 60) -> str:
        deadline = time.monotonic() + patience
        while True:
            done = subprocess.run(
                [sys.executable, "-m", "airflow", *args], env=self.env, capture_output=True, text=True, timeout=120
            )
            # SQLite allows one writer: a CLI write can lose to a busy scheduler (starting up, or slowed by a loaded
            # machine) again and again; its transaction rolled back, so nothing was written and it can run again.
            if done.returncode == 0 or "database is locked" not in done.stderr or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert done.returncode == 0, f"airflow {' '.join(args)}: {done.stderr[-2000:]}"
        return done.stdout

    def stop(self, *names: str, timeout: float = 30) -> None:
        """SIGTERM the components (all by default) and wait; whatever is left of them then is SIGKILLed."""
        import signal

        chosen = {name: self.processes.pop(name) for name in (names or list(self.processes))}
        trees = {name: descendants(process.pid) for name, process in chosen.items()}
        for process in chosen.values():
            with contextlib.suppress(ProcessLookupError):  # already gone
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for name, process in chosen.items():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                kill_tree(process.pid)
                process.wait()
            for leftover in trees[name]:  # task processes outlive their worker by design; not past the test
                with contextlib.suppress(ProcessLookupError):
                    os.kill(leftover, signal.SIGKILL)


def descendants(pid: int) -> list[int]:
    import psutil

    try:
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def non_loopback_listeners(pids: set[int]) -> tuple[list[Any], list[Any]]:
    """(every listening TCP socket of these processes, those bound beyond loopback)."""
    import psutil

    listening = [c for c in psutil.net_connections("inet") if c.pid in pids and c.status == psutil.CONN_LISTEN]
    return listening, [c for c in listening if c.laddr.ip not in ("127.0.0.1", "::1")]


def kill_tree(pid: int) -> None:
    """SIGKILL a process and all its descendants, whatever process group or session they moved to."""
    import signal

    for victim in [pid, *descendants(pid)]:  # listed first: killed children are reparented out of reach
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)


def triggered_run(dag_id: str = "hpo_nightly", run_id: str | None = None) -> Any:
    """The manual run a test just triggered (the one with `run_id`, or the only one), once the scheduler has
    started it."""
    from airflow.models.dagrun import DagRun

    from harness.local_sagemaker import wait_until

    [dagrun] = wait_until(
        lambda: DagRun.find(dag_id=dag_id, run_id=run_id, run_type="manual", state="running"),
        bool,
        "a running manual run",
    )
    return dagrun


def finished_runs(
    run_type: str, count: int, run_id: str | None = None, timeout: float = 480, dag_id: str = "hpo_nightly"
) -> list[Any]:
    from airflow.models.dagrun import DagRun

    from harness.local_sagemaker import wait_until

    try:
        return wait_until(
            lambda: DagRun.find(dag_id=dag_id, run_type=run_type, run_id=run_id),
            lambda found: len(found) == count and all(r.state in ("success", "failed") for r in found),
            f"{count} finished {run_type} runs",
            timeout=timeout,
            interval=2,
        )
    except TimeoutError as error:  # say where each run is stuck
        found = DagRun.find(dag_id=dag_id, run_type=run_type, run_id=run_id)
        states = {r.run_id: {ti.task_id: (ti.state, ti.try_number) for ti in r.get_task_instances()} for r in found}
        raise TimeoutError(f"{error}: {states}") from None


def failed_task_logs(dagrun: Any, tail: int = 3000) -> dict[str, str]:
    """The end of each failed task's log (for assertion messages): what went wrong, not just that it did."""
    home = Path(os.environ["AIRFLOW_HOME"]) / "logs"
    logs = {}
    for ti in dagrun.get_task_instances():
        if ti.state == "failed":
            found = sorted(home.glob(f"dag_id={ti.dag_id}/run_id={ti.run_id}/task_id={ti.task_id}/attempt=*.log"))
            logs[ti.task_id] = found[-1].read_text(errors="replace")[-tail:] if found else "(no log file)"
    return logs

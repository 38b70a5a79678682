"""Airflow on CeleryExecutor with real PostgreSQL and Redis, and the local SageMaker, for tests/scale and
benchmarks/scale.py.

Every piece listens on a free loopback port, is started by the caller and stopped by pid: PostgreSQL (the system's
binaries, initdb into a temporary directory; run as the `postgres` user when we are root, since PostgreSQL refuses
to run as root), Redis (the Celery broker), the local SageMaker, and Airflow's api-server (the workers reach its
execution API), scheduler, dag-processor, triggerer and N Celery workers. Each worker has its own Celery name,
worker log-server port and Airflow hostname (`worker_hostname`), as if it ran on a machine of its own, so the
metadata DB records which worker ran each task.

Workers do not serve their logs over HTTP (`--skip-serve-logs`, triggerer too): Airflow 3.3's log server binds every
interface, and here every process shares one disk, from which the api-server reads task logs directly.
"""

from __future__ import annotations

import contextlib
import datetime
import glob
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.airflow_processes import Airflow
from harness.local_sagemaker import REGION, ROOT, LocalSageMakerProcess, free_port, wait_until

INSTALL_HINT = "apt-get install -y redis-server postgresql"
DAG_IDS = ("hpo_nightly", "ingest_flights")
WORKER_NAME_VARIABLE = "SCALE_STACK_WORKER_NAME"


def worker_hostname() -> str:
    """Airflow's `[core] hostname_callable` in the stack's workers: the worker's own name (several share a host)."""
    return os.environ.get(WORKER_NAME_VARIABLE) or socket.getfqdn()


def postgres_bindir() -> Path | None:
    """The directory holding PostgreSQL's server binaries (`initdb`, `postgres`): on PATH, or Debian's
    /usr/lib/postgresql/<version>/bin (not on PATH), newest version first."""
    candidates = [Path(found).resolve().parent for found in filter(None, [shutil.which("initdb")])]
    versioned = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += [Path(d) for d in sorted(versioned, key=lambda d: int(Path(d).parent.name), reverse=True)]
    candidates.append(Path("/usr/local/pgsql/bin"))
    return next((d for d in candidates if (d / "initdb").is_file() and (d / "postgres").is_file()), None)


def missing_binaries() -> list[str]:
    """What the stack needs from the system and cannot find."""
    missing = [] if postgres_bindir() else ["PostgreSQL server (initdb, postgres)"]
    return missing + ([] if shutil.which("redis-server") else ["redis-server"])


def _stop_process(process: subprocess.Popen | None, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class Postgres:
    """A throwaway PostgreSQL cluster: trust authentication on 127.0.0.1 only, no Unix socket, no fsync."""

    logs: Path
    port: int = field(default_factory=free_port)
    user: str = "airflow"
    database: str = "airflow"
    process: subprocess.Popen | None = None
    data_dir: Path | None = None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def _run_as(self) -> dict[str, Any]:
        """Popen arguments that drop root for the `postgres` user (the Debian package's; `nobody` if absent)."""
        if os.geteuid() != 0:
            return {}
        import pwd

        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            account = pwd.getpwnam("nobody")
        return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}

    def start(self, timeout: float = 60) -> Postgres:
        bindir = postgres_bindir()
        if bindir is None:
            raise RuntimeError(f"PostgreSQL server binaries not found: {INSTALL_HINT}")
        run_as = self._run_as()
        # Not under pytest's tmp_path: its parents are private to root, and the server may not run as root.
        self.data_dir = Path(tempfile.mkdtemp(prefix="scale-postgres-"))
        if run_as:
            os.chown(self.data_dir, run_as["user"], run_as["group"])
        log = self.logs / "postgres.log"
        with log.open("ab") as out:
            subprocess.run(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    self.user,
                    "--auth=trust",
                    "--no-sync",
                    "--encoding=UTF8",
                    "--no-locale",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                check=True,
                timeout=120,
                **run_as,
            )
            self.process = subprocess.Popen(
                [
                    str(bindir / "postgres"),
                    "-D",
                    str(self.data_dir),
                    "-p",
                    str(self.port),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "unix_socket_directories=",
                    "-c",
                    "max_connections=200",
                    # A test database: losing it in a crash is fine, waiting on disks is not.
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.data_dir,
                **run_as,
            )
        wait_until(self._accepting, bool, f"PostgreSQL on port {self.port} (log: {log})", timeout, interval=0.2)
        connection = self.connect("postgres")
        try:
            connection.autocommit = True  # CREATE DATABASE cannot run in a transaction
            connection.cursor().execute(f'CREATE DATABASE "{self.database}"')
        finally:
            connection.close()
        return self

    def _accepting(self) -> bool:
        import psycopg2

        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"PostgreSQL exited with {self.process.returncode}: see {self.logs / 'postgres.log'}")
        try:
            self.connect("postgres").close()
        except psycopg2.OperationalError:
            return False
        return True

    def connect(self, database: str | None = None) -> Any:
        import psycopg2

        return psycopg2.connect(
            host="127.0.0.1", port=self.port, user=self.user, dbname=database or self.database, connect_timeout=5
        )

    def query(self, sql: str, *params: Any) -> list[tuple]:
        connection = self.connect()
        try:
            with connection, connection.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchall()
        finally:
            connection.close()

    def stop(self) -> None:
        _stop_process(self.process, signal.SIGINT)  # "fast" shutdown: disconnects clients instead of waiting
        if self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)


@dataclass
class Redis:
    """A Redis with nothing persisted, on 127.0.0.1 only."""

    logs: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 30) -> Redis:
        server = shutil.which("redis-server")
        if server is None:
            raise RuntimeError(f"redis-server not found: {INSTALL_HINT}")
        with (self.logs / "redis.log").open("ab") as out:
            self.process = subprocess.Popen(
                [
                    server,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                    "--dir",
                    str(self.logs),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        wait_until(self._answering, bool, f"Redis on port {self.port}", timeout, interval=0.1)
        return self

    def _answering(self) -> bool:
        import redis

        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"redis-server exited with {self.process.returncode}: see {self.logs / 'redis.log'}")
        try:
            return bool(redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        _stop_process(self.process)


@dataclass
class Stack:
    """The whole CeleryExecutor deployment on this machine. `start()` returns once the DAGs are parsed, unpaused
    and every worker is ready; `stop()` ends every process it started."""

    root: Path
    workers: int = 2
    concurrency: int = 2  # Celery task slots per worker
    bucket: str = "scale-tests"
    environment: dict[str, str] = field(default_factory=dict)  # extra Airflow settings for every component
    postgres: Postgres = field(init=False)
    redis: Redis = field(init=False)
    sagemaker: LocalSageMakerProcess = field(init=False)
    airflow: Airflow = field(init=False)
    started: dict[str, float] = field(default_factory=dict)  # seconds each phase of start() took

    def __post_init__(self) -> None:
        self.logs = self.root / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.home = self.root / "airflow-home"
        self.postgres = Postgres(self.logs)
        self.redis = Redis(self.logs)
        self.sagemaker = LocalSageMakerProcess(self.root / "sagemaker-state")
        self.worker_names = [f"worker-{n}" for n in range(1, self.workers + 1)]

    def airflow_environment(self) -> dict[str, str]:
        connection = {
            "conn_type": "aws",
            "login": "testing",
            "password": f"scale-{secrets.token_hex(8)}",
            "extra": {"endpoint_url": self.sagemaker.url, "region_name": REGION},
        }
        return {
            **self.sagemaker.environ(),
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__PARALLELISM": "32",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.postgres.url,
            "AIRFLOW__CELERY__BROKER_URL": self.redis.url,
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://{self.postgres.user}@127.0.0.1:{self.postgres.port}/"
            f"{self.postgres.database}",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.concurrency),
            "AIRFLOW__CELERY__OPERATION_TIMEOUT": "5",  # sending a task to Redis on a busy 2-core machine
            # A worker that dies is noticed in seconds: its tasks stop heartbeating (every 2 s) and after 10 s
            # the scheduler fails the try, to be retried on a live worker.
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "2",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "10",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
            # A task message a dead worker had taken but not started is sent again after a minute, not 10.
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "60",
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL": "5",
            # The DAG files do not change while the stack runs: parsed once at start (wait_ready), not every 30 s
            # (3 of the idle stack's 8 CPU-s a minute).
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
            # A dead triggerer's triggers go to a live one after 5 s without its heartbeat.
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "5",
            "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(connection),
            "AIRFLOW_VAR_HPO_BUCKET": self.bucket,
            "AIRFLOW_VAR_HPO_POLL_SECONDS": "1",
            "AIRFLOW_VAR_FLIGHT_DELAY_ENDPOINT_NAME": f"{self.bucket}-endpoint",
            **self.environment,
        }

    # --- lifecycle ---------------------------------------------------------------------------------
    def start(self, timeout: float = 240) -> Stack:
        began = time.monotonic()
        with ThreadPoolExecutor(3) as pool:  # independent, and each mostly waits on its own process
            for started in [pool.submit(s.start) for s in (self.postgres, self.redis, self.sagemaker)]:
                started.result()
        self.started["postgres, redis, local sagemaker"] = time.monotonic() - began
        self.airflow = Airflow(self.logs, self.airflow_environment())
        mark = time.monotonic()
        self.airflow.cli("db", "migrate")
        self.started["airflow db migrate"] = time.monotonic() - mark
        mark = time.monotonic()
        self.airflow.start_process("api-server", ["api-server"])
        self.airflow.start_process("scheduler", ["scheduler"])
        self.airflow.start_process("dag-processor", ["dag-processor"])
        self.airflow.start_process("triggerer", ["triggerer", "--skip-serve-logs"])
        for name in self.worker_names:
            self.start_worker(name)
        self.wait_ready(self.worker_names, timeout=timeout)
        for dag_id in DAG_IDS:
            self.airflow.unpause(dag_id)
        self.started["airflow components ready"] = time.monotonic() - mark
        return self

    def start_worker(self, name: str, environment: dict[str, str] | None = None) -> None:
        """`airflow celery worker` as `name`: its own Celery hostname, log-server port and Airflow hostname."""
        self.airflow.start_process(
            name,
            [
                "celery",
                "worker",
                "--celery-hostname",
                f"{name}@{socket.gethostname()}",
                "--skip-serve-logs",
                "--without-mingle",
                "--without-gossip",
            ],
            {
                WORKER_NAME_VARIABLE: name,
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{__name__}.worker_hostname",
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                **(environment or {}),
            },
        )

    def restart_workers(self, environment: dict[str, str] | None = None) -> None:
        """Every worker (started again if it was killed, stopped and started if not), with `environment` on top of
        its settings; returns when all of them take tasks."""
        alive = [name for name in self.worker_names if name in self.airflow.processes]
        if alive:
            self.airflow.stop(*alive)
        before = {name: self._ready_count(self.logs / f"{name}.log") for name in self.worker_names}
        for name in self.worker_names:
            self.airflow.restart(name, environment)
        wait_until(
            lambda: [n for n in self.worker_names if self._ready_count(self.logs / f"{n}.log") <= before[n]],
            lambda waiting: not waiting,
            "the restarted workers",
            timeout=120,
            interval=0.5,
        )

    @staticmethod
    def _ready_count(log: Path) -> int:
        return log.read_text(errors="replace").count(" ready.") if log.is_file() else 0

    def wait_ready(self, workers: Iterable[str], timeout: float = 240) -> None:
        """Until the API answers, both DAGs are parsed into the DB and every worker has connected to Redis."""

        def missing() -> list[str]:
            for name, process in self.airflow.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {process.returncode}: {self.tail(name)}")
            waiting = [w for w in workers if not self._ready_count(self.logs / f"{w}.log")]
            if not self.airflow.api_healthy(timeout=2):
                waiting.append("api-server")
            parsed = {row[0] for row in self.postgres.query("SELECT dag_id FROM serialized_dag")}
            return waiting + [f"DAG {d}" for d in DAG_IDS if d not in parsed]

        try:
            wait_until(missing, lambda left: not left, "the Airflow components", timeout, interval=0.5)
        except TimeoutError as error:
            raise TimeoutError(f"{error}: still waiting for {missing()}") from None

    def stop(self) -> None:
        with contextlib.suppress(AttributeError):  # start() may have failed before Airflow existed
            self.airflow.stop(timeout=20)
        for service in (self.sagemaker, self.redis, self.postgres):
            service.stop()

    def __enter__(self) -> Stack:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- using it ----------------------------------------------------------------------------------
    def trigger(self, dag_id: str, conf: dict[str, Any], logical_date: datetime.date | None = None) -> str:
        """Trigger a run; its run_id."""
        when = None if logical_date is None else f"{logical_date.isoformat()}T00:00:00Z"
        return self.airflow.trigger(dag_id, conf, when)

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        """task_id → state, try_number, hostname, pid and queued/start/end times, from the metadata DB."""
        rows = self.postgres.query(
            "SELECT task_id, state, try_number, hostname, pid, queued_dttm, start_date, end_date FROM task_instance"
            " WHERE dag_id = %s AND run_id = %s",
            dag_id,
            run_id,
        )
        fields = ("state", "try_number", "hostname", "pid", "queued", "start", "end")
        return {row[0]: dict(zip(fields, row[1:], strict=True)) for row in rows}

    def run_state(self, dag_id: str, run_id: str) -> str | None:
        rows = self.postgres.query("SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s", dag_id, run_id)
        return rows[0][0] if rows else None

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 300) -> str:
        """The run's final state; on timeout, an error listing each task's state and try."""
        try:
            return wait_until(
                lambda: self.run_state(dag_id, run_id), lambda s: s in ("success", "failed"), run_id, timeout, 1
            )
        except TimeoutError as error:
            raise TimeoutError(f"{error}: {self.task_instances(dag_id, run_id)}") from None

    def wait_for_backfill(self, runs: int, dag_id: str = "hpo_nightly", timeout: float = 1200) -> dict[str, str]:
        """run_id → final state of a backfill's runs, once all `runs` of them have ended."""
        return wait_until(
            lambda: dict(
                self.postgres.query(
                    "SELECT run_id, state FROM dag_run WHERE dag_id = %s AND run_type = 'backfill'", dag_id
                )
            ),
            lambda states: len(states) == runs and all(s in ("success", "failed") for s in states.values()),
            f"{runs} finished backfill runs of {dag_id}",
            timeout,
            interval=2,
        )

    def task_log(self, dag_id: str, run_id: str, task_id: str, tail: int | None = None) -> str:
        """Every attempt's log of a task (the last `tail` characters of each), oldest first."""
        found = sorted((self.home / "logs").glob(f"dag_id={dag_id}/run_id={run_id}/task_id={task_id}/attempt=*.log"))
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-(tail or 0) :]}" for p in found) or "(no log)"

    def failed_logs(self, dag_id: str, run_id: str) -> dict[str, str]:
        """The logs of a run's failed tasks, for assertion messages."""
        return {
            task_id: self.task_log(dag_id, run_id, task_id, tail=3000)
            for task_id, ti in self.task_instances(dag_id, run_id).items()
            if ti["state"] in ("failed", "up_for_retry")
        }

    def tail(self, component: str, chars: int = 3000) -> str:
        log = self.logs / f"{component}.log"
        return log.read_text(errors="replace")[-chars:] if log.is_file() else "(no log)"

    def pids(self) -> dict[str, list[int]]:
        """component → the pids of its process tree (the local SageMaker's training jobs included)."""
        import psutil

        tops = {
            **{name: p.pid for name, p in self.airflow.processes.items()},
            "postgres": self.postgres.process.pid if self.postgres.process else None,
            "redis": self.redis.process.pid if self.redis.process else None,
            "local-sagemaker": self.sagemaker.process.pid if self.sagemaker.process else None,
        }
        trees = {}
        for name, pid in tops.items():
            with contextlib.suppress(psutil.NoSuchProcess, TypeError):
                trees[name] = [pid, *(c.pid for c in psutil.Process(pid).children(recursive=True))]
        return trees

    def seed(self, start: datetime.date, end: datetime.date) -> None:
        """Daily flight partitions start..end in the stack's bucket, as `make demo` seeds them."""
        from include.pipeline.ingest import land
        from include.pipeline.spec import SPECS_DIR, load_spec

        land(self.sagemaker.client("s3"), self.bucket, load_spec(SPECS_DIR / "flight_delay.yaml"), start, end)


if __name__ == "__main__":  # python -m harness.stack DIR: start a stack by hand and keep it up until Ctrl-C
    with Stack(Path(sys.argv[1]).resolve()) as running:
        print(f"API {running.airflow.api}, metadata DB {running.postgres.url}, started in {running.started}")
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()

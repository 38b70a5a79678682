"""Start training programs: `python script.py` from a warm zygote when it would behave the same, else exec.

A job whose program is `python <script>.py ...` and whose request sets no `Environment` is forked from
`zygote.py`, which has numpy, pandas and xgboost imported (see there for what the child is made to match).
Anything else, and every job while LOCAL_SAGEMAKER_PREFORK=0, is a fresh `subprocess.Popen`, as is every
job if the zygote cannot start. A job that sets `Environment` gets a fresh interpreter because variables such
as OMP_NUM_THREADS or PYTHONHASHSEED are read when an interpreter or library starts, before the job's
environment could reach a forked child.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

ZYGOTE = Path(__file__).with_name("zygote.py")
READY_TIMEOUT_SECONDS = 120.0
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def die_with_parent() -> None:  # runs in the child between fork and exec
    if _libc is not None:
        _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: a kill -9 of the server takes its jobs along


def start_fresh(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen:
    """argv in a new interpreter: its own process group, output on one pipe, gone when the server goes."""
    return subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        process_group=0,
        preexec_fn=die_with_parent,  # noqa: PLW1509 - async-signal-safe prctl only
    )


class ForkedProcess:
    """The part of `subprocess.Popen` the runner uses, for a child of the zygote."""

    def __init__(self, args: list[str], pid: int, stdout: IO[bytes], status: int) -> None:
        self.args = args
        self.pid = pid
        self.stdout = stdout
        self.returncode: int | None = None
        self._status = status

    def poll(self) -> int | None:
        if self.returncode is None and select.select([self._status], [], [], 0)[0]:
            self._collect()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            if not select.select([self._status], [], [], timeout)[0]:
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
            self._collect()
        assert self.returncode is not None
        return self.returncode

    def _collect(self) -> None:
        data = b""
        while chunk := os.read(self._status, 64):
            data += chunk
        os.close(self._status)
        # No status: the zygote died, and took the child with it (PR_SET_PDEATHSIG).
        self.returncode = os.waitstatus_to_exitcode(int(data)) if data else -signal.SIGKILL


Process = subprocess.Popen | ForkedProcess  # what a job's supervisor polls, waits for and signals


class Zygote:
    """One zygote process, started on first use from a thread that lives as long as it does (a child's
    PR_SET_PDEATHSIG fires when the *thread* that started it ends)."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self._cwd = cwd
        self._env = env
        self._lock = threading.Lock()
        self._control: socket.socket | None = None
        self._failed = False

    def spawn(self, argv: list[str], cwd: Path, env: dict[str, str]) -> ForkedProcess | None:
        """A running child for argv, or None when the zygote is not available (the caller execs instead)."""
        with self._lock:
            control = self._control or self._start()
            if control is None:
                return None
            read, write = os.pipe()
            status_read, status_write = os.pipe()
            try:
                socket.send_fds(
                    control, [json.dumps({"argv": argv, "cwd": str(cwd), "env": env}).encode()], [write, status_write]
                )
                reply = json.loads(control.recv(4096) or b"{}")
            except OSError:
                reply = {}
            finally:
                os.close(write)
                os.close(status_write)
            if "pid" not in reply:
                log.warning("the training zygote stopped answering; starting jobs with a fresh interpreter")
                os.close(read)
                os.close(status_read)
                self._control = None
                return None
            return ForkedProcess(argv, reply["pid"], os.fdopen(read, "rb"), status_read)

    def _start(self) -> socket.socket | None:
        if self._failed:
            return None
        ready = threading.Event()
        threading.Thread(target=self._keep, args=(ready,), name="training-zygote", daemon=True).start()
        ready.wait(READY_TIMEOUT_SECONDS)
        if self._control is None:
            self._failed = True  # do not pay the start again for every job
            log.warning("the training zygote did not start; jobs start with a fresh interpreter")
        return self._control

    def _keep(self, ready: threading.Event) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            process = subprocess.Popen(
                [sys.executable, str(ZYGOTE), str(theirs.fileno())],
                cwd=self._cwd,
                env=self._env,
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent,  # noqa: PLW1509 - async-signal-safe prctl only
            )
        finally:
            theirs.close()
        try:
            hello = json.loads(ours.recv(4096) or b"{}")
        except (OSError, ValueError):
            hello = {}
        if "ready" in hello:
            log.info("training zygote %s ready with %s preloaded", process.pid, ", ".join(hello["ready"]))
            self._control = ours
        ready.set()
        process.wait()  # this thread must outlive the zygote
        if self._control is ours:
            self._control = None
        ours.close()


def prefork_enabled() -> bool:
    return os.environ.get("LOCAL_SAGEMAKER_PREFORK", "1") != "0"


def forkable(argv: list[str], spec: dict[str, Any]) -> bool:
    """`python script.py ...` with nothing in the request that a fresh interpreter would read at start."""
    return len(argv) >= 2 and argv[0] == sys.executable and argv[1].endswith(".py") and not spec.get("Environment")

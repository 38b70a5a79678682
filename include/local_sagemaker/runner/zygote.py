"""A Python interpreter with the training images' libraries imported, forking one child per training job.

Started as a program (`python zygote.py FD`, standard library only) by `runner.prefork`. A job's Python
spends about 1.4 s of its 1.6 s importing numpy, pandas and xgboost (which imports scikit-learn and SciPy);
a child forked from here starts in milliseconds with them already imported, and is otherwise what
`python script.py ...` would be: its own process group, the job's environment, working directory, argv,
sys.path[0] and stdout/stderr, a new `__main__` module run from the script, atexit handlers run, and the exit status of
that interpreter (1 after an uncaught exception, -N after signal N).

Protocol over the SOCK_SEQPACKET socket FD, one request at a time: the runner sends
`{"argv", "cwd", "env"}` with two file descriptors (the job's output pipe, a status pipe), the zygote answers
`{"pid": N}`, and when the child ends writes its wait status to the status pipe and closes it. If the zygote
dies, its children die with it (PR_SET_PDEATHSIG) and every status pipe reads EOF.
"""

from __future__ import annotations

import atexit
import builtins
import ctypes
import importlib.machinery
import io
import json
import os
import signal
import socket
import sys
import traceback
import types
from typing import Any

PRELOAD = ("numpy", "pandas", "xgboost")
PR_SET_PDEATHSIG = 1
_status_fds: dict[int, int] = {}
# Started without LC_CTYPE (the runner passes none), Python sets it when it coerces the C locale.
_COERCED_LOCALE = os.environ.get("LC_CTYPE")


def _die_with_parent() -> None:
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _reap(*_: Any) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        fd = _status_fds.pop(pid, None)
        if fd is not None:
            os.write(fd, str(status).encode())
            os.close(fd)


def _stream(fd: int, unbuffered: bool, errors: str) -> io.TextIOWrapper:
    raw = io.FileIO(fd, "w", closefd=False)
    binary: Any = raw if unbuffered else io.BufferedWriter(raw)
    return io.TextIOWrapper(binary, encoding="utf-8", errors=errors, line_buffering=False, write_through=unbuffered)


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def _run_main(path: str) -> None:
    """Run a script as `python path` does: a fresh `__main__` module with these attributes, argv untouched."""
    main = types.ModuleType("__main__")
    main.__file__ = path
    main.__loader__ = importlib.machinery.SourceFileLoader("__main__", path)
    main.__dict__.update(__cached__=None, __builtins__=builtins)
    main.__annotations__ = {}
    sys.modules["__main__"] = main
    with open(path, "rb") as source:
        code = compile(source.read(), path, "exec", dont_inherit=True)
    exec(code, main.__dict__)  # noqa: S102 - the job's own program, as `python script.py` would run it


def _run_child(control: socket.socket, request: dict[str, Any], output: int) -> None:
    """In the forked child: become `python script.py ...` for the job, run it, exit. Never returns."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    os.setpgid(0, 0)
    _die_with_parent()
    control.close()
    for fd in _status_fds.values():
        os.close(fd)
    _status_fds.clear()
    stdin = os.open(os.devnull, os.O_RDONLY)
    os.dup2(stdin, 0)
    os.dup2(output, 1)
    os.dup2(output, 2)
    os.close(stdin)
    os.close(output)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    if _COERCED_LOCALE and not {"LC_ALL", "LC_CTYPE"} & set(request["env"]):
        os.environ["LC_CTYPE"] = _COERCED_LOCALE  # PEP 538: what this interpreter's start set, a job's start would
    unbuffered = bool(os.environ.get("PYTHONUNBUFFERED"))
    # The job's own standard streams, the __std*__ originals included, as its interpreter's start would set them.
    sys.stdin = sys.__stdin__ = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")  # type: ignore[misc]
    sys.stdout = sys.__stdout__ = _stream(1, unbuffered, "strict")  # type: ignore[misc]
    sys.stderr = sys.__stderr__ = _stream(2, True, "backslashreplace")  # type: ignore[misc]
    script = request["argv"][1]
    sys.argv = list(request["argv"][1:])
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    if "numpy" in sys.modules:  # the legacy global RandomState was seeded once, in the zygote
        sys.modules["numpy"].random.seed()
    code = 0
    try:
        _run_main(os.path.abspath(script))
    except SystemExit as exc:
        code = _exit_code(exc)
    except BaseException as exc:
        # From the script's own frame down, as Python prints it: this module's two frames are not the job's.
        frames = exc.__traceback__
        for _ in range(2):
            frames = frames.tb_next if frames is not None else None
        traceback.print_exception(type(exc), exc, frames)
        code = 1
    finally:
        try:
            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code & 0xFF)


def serve(control: socket.socket) -> None:
    signal.signal(signal.SIGCHLD, _reap)
    while True:
        data, fds, _, _ = socket.recv_fds(control, 1 << 20, 2)  # PEP 475: retried after a SIGCHLD
        if not data:
            return  # the runner closed its end: it has stopped
        output, status = fds
        request = json.loads(data)
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGCHLD])  # reaped only once its status pipe is known
        pid = os.fork()
        if pid == 0:
            _run_child(control, request, output)
        try:
            os.setpgid(pid, pid)  # as the child does, so the runner can signal the group at once
        except OSError:
            pass  # the child got there first
        _status_fds[pid] = status
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGCHLD])
        os.close(output)
        control.send(json.dumps({"pid": pid}).encode())


def main() -> None:
    _die_with_parent()
    control = socket.socket(fileno=int(sys.argv[1]))
    sys.path.pop(0)  # this file's directory: its modules must not shadow what the preload or a job imports
    for name in PRELOAD:
        try:
            __import__(name)
        except ImportError:
            pass
    control.send(json.dumps({"ready": sorted(name for name in PRELOAD if name in sys.modules)}).encode())
    serve(control)


if __name__ == "__main__":
    main()

"""A job forked from the zygote sees what `python script.py` would: compared against a fresh interpreter."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from include.local_sagemaker.runner.prefork import Process, Zygote, forkable, start_fresh
from include.local_sagemaker.runner.training import _terminate

PROBE = """
import atexit, json, os, random, sys
import numpy
atexit.register(lambda: print("atexit ran", flush=True))
print(json.dumps({
    "name": __name__,
    "file": __file__,
    "argv": sys.argv,
    "cwd": os.getcwd(),
    "env": dict(os.environ),
    "path0": sys.path[0],
    "stdin": sys.stdin.read(),
    "pgid_is_pid": os.getpgid(0) == os.getpid(),
    "random": random.random(),
    "numpy_random": float(numpy.random.rand()),
}))
sys.exit(int(os.environ.get("EXIT_WITH", "0")))
"""


@pytest.fixture(scope="module")
def zygote(tmp_path_factory: pytest.TempPathFactory) -> Zygote:
    return Zygote(tmp_path_factory.mktemp("zygote"), {"PATH": os.environ["PATH"]})


@pytest.fixture
def job(tmp_path: Path) -> Iterator[Path]:
    code = tmp_path / "code"
    code.mkdir()
    (code / "probe.py").write_text(PROBE)
    yield code


def run(process: Process) -> tuple[int, list[str]]:
    assert process.stdout is not None
    output = process.stdout.read().decode()
    return process.wait(timeout=60), output.splitlines()


def test_a_forked_job_sees_what_a_fresh_interpreter_sees(zygote: Zygote, job: Path) -> None:
    argv = [sys.executable, "probe.py", "--eta", "0.1"]
    env = {"PATH": os.environ["PATH"], "SM_MODEL_DIR": str(job), "PYTHONUNBUFFERED": "1"}
    forked = zygote.spawn(argv, job, env)
    assert forked is not None
    (forked_code, forked_lines), (fresh_code, fresh_lines) = run(forked), run(start_fresh(argv, job, env))

    assert forked_code == fresh_code == 0
    assert forked_lines[1:] == fresh_lines[1:] == ["atexit ran"]
    seen, expected = json.loads(forked_lines[0]), json.loads(fresh_lines[0])
    for key in ("random", "numpy_random"):  # each process draws its own
        assert seen.pop(key) != expected.pop(key)
    assert seen == expected
    assert seen["argv"] == ["probe.py", "--eta", "0.1"] and seen["path0"] == str(job) and seen["name"] == "__main__"


def test_two_forked_jobs_draw_different_random_numbers(zygote: Zygote, job: Path) -> None:
    draws = []
    for _ in range(2):
        forked = zygote.spawn([sys.executable, "probe.py"], job, {"PATH": os.environ["PATH"]})
        assert forked is not None
        code, lines = run(forked)
        assert code == 0
        draws.append(json.loads(lines[0]))
    assert draws[0]["random"] != draws[1]["random"]
    assert draws[0]["numpy_random"] != draws[1]["numpy_random"]


@pytest.mark.parametrize(
    ("script", "code", "printed"),
    [
        ("import sys; sys.exit(3)", 3, None),
        ("def fit():\n    raise ValueError('bad eta')\nfit()\n", 1, "ValueError: bad eta"),
        ("import sys; sys.exit('no data in channel train')", 1, "no data in channel train"),
    ],
)
def test_exit_statuses_match_a_fresh_interpreter(
    zygote: Zygote, tmp_path: Path, script: str, code: int, printed: str | None
) -> None:
    (tmp_path / "fail.py").write_text(script)
    argv, env = [sys.executable, "fail.py"], {"PATH": os.environ["PATH"]}
    forked = zygote.spawn(argv, tmp_path, env)
    assert forked is not None
    (forked_code, forked_lines), (fresh_code, fresh_lines) = run(forked), run(start_fresh(argv, tmp_path, env))
    assert forked_code == fresh_code == code
    assert forked_lines == fresh_lines  # the same traceback, or message
    if printed:
        assert printed in forked_lines[-1]


def test_a_stop_signals_the_jobs_process_group(zygote: Zygote, tmp_path: Path) -> None:
    (tmp_path / "sleepy.py").write_text("import time\nprint('up', flush=True)\ntime.sleep(60)\n")
    forked = zygote.spawn([sys.executable, "sleepy.py"], tmp_path, {"PATH": os.environ["PATH"]})
    assert forked is not None and forked.stdout is not None
    assert forked.stdout.readline() == b"up\n"
    assert forked.poll() is None
    _terminate(forked, grace=5)
    assert forked.wait(timeout=5) == -signal.SIGTERM


def test_when_the_zygote_dies_its_jobs_die_and_the_next_job_gets_a_new_one(tmp_path: Path) -> None:
    zygote = Zygote(tmp_path, {"PATH": os.environ["PATH"]})
    (tmp_path / "sleepy.py").write_text("import os, time\nprint(os.getppid(), flush=True)\ntime.sleep(60)\n")
    forked = zygote.spawn([sys.executable, "sleepy.py"], tmp_path, {"PATH": os.environ["PATH"]})
    assert forked is not None and forked.stdout is not None
    zygote_pid = int(forked.stdout.readline())
    os.kill(zygote_pid, signal.SIGKILL)
    assert forked.wait(timeout=10) == -signal.SIGKILL
    deadline = time.monotonic() + 10
    while zygote._control is not None and time.monotonic() < deadline:  # its keeper thread notices
        time.sleep(0.05)
    again = zygote.spawn([sys.executable, "sleepy.py"], tmp_path, {"PATH": os.environ["PATH"]})
    assert again is not None and again.stdout is not None
    assert int(again.stdout.readline()) != zygote_pid
    _terminate(again, grace=0)


@pytest.mark.parametrize(
    ("argv", "spec", "expected"),
    [
        ([sys.executable, "train.py", "--eta", "0.1"], {}, True),
        ([sys.executable, "train.py"], {"Environment": {"OMP_NUM_THREADS": "1"}}, False),
        (["/bin/sh", "train.sh"], {}, False),
        ([sys.executable, "-m", "trainer"], {}, False),
        (["python3", "train.py"], {}, False),
    ],
)
def test_only_plain_python_scripts_without_an_environment_are_forked(
    argv: list[str], spec: dict, expected: bool
) -> None:
    assert forkable(argv, spec) is expected

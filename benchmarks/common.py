"""What every benchmark shares: where results go, the header every results file starts with, saving it, loading a
training script as a module, and the few metrics more than one benchmark reports."""

from __future__ import annotations

import importlib.util
import math
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "benchmarks" / "results"


def command_line() -> str:
    """How this run was started, as anyone can repeat it from the repo root."""
    module = getattr(sys.modules["__main__"].__spec__, "name", None) or Path(sys.argv[0]).stem
    return " ".join([".venv/bin/python", "-m", module, *sys.argv[1:]])


def commit() -> str:
    """The checked-out commit, marked when the tree differs from it."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"{sha}{' with uncommitted changes' if dirty.strip() else ''}"


def header(title: str, *versions: str) -> list[str]:
    """A results file's first lines: title, date, machine (with any library versions given), commit, command."""
    machine = f"{os.cpu_count()} CPUs, {platform.platform()}, {platform.machine()}, Python {platform.python_version()}"
    return [
        f"# {title}",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M UTC}",
        f"- machine: {', '.join([machine, *versions])}; load average {os.getloadavg()[0]:.2f}",
        f"- commit: {commit()}",
        f"- command: `{command_line()}`",
    ]


def save_results(path: Path, text: str) -> None:
    """Write a results file (header first, one final newline) and say where."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text if text.endswith("\n") else text + "\n")
    print(f"\nwritten to {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def load_script(path: Path) -> ModuleType:
    """A training script imported as a module of its own name, so a benchmark calls the code a job runs."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def median(values: Iterable[float]) -> float:
    """The median of the values that are numbers (nan left out); nan if there are none."""
    numbers = [v for v in values if not math.isnan(v)]
    return statistics.median(numbers) if numbers else math.nan


def percentile(values: Sequence[float], q: float, *, nearest: bool = False) -> float:
    """The q quantile (0..1), interpolated between the two closest ranks, or with nearest the closest rank itself."""
    ordered = sorted(values)
    index = (len(ordered) - 1) * q
    if nearest:
        return ordered[min(len(ordered) - 1, max(0, round(index)))]
    low = int(index)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (index - low)


def ratio(value: float, baseline: float) -> str:
    """value / baseline as a table cell ("1.25×"); "–" without a baseline."""
    return f"{value / baseline:.2f}×" if baseline else "–"


def jobs_to_reach(values: Iterable[float | None], target: float) -> float:
    """How many jobs (objective values in launch order) until the best so far reaches target; inf if it never does.
    A job without a value (failed, stopped) counts as a job spent."""
    running = -math.inf
    for count, value in enumerate(values, start=1):
        if value is not None:
            running = max(running, value)
        if running >= target:
            return count
    return math.inf


def jobs_text(count: float, budget: int) -> str:
    """A jobs_to_reach count as a table cell: ">budget" for never."""
    return f">{budget}" if math.isinf(count) else f"{count:g}"

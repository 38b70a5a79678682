"""What every benchmark shares: where results go, the header every results file starts with, and loading a
training script as a module."""

from __future__ import annotations

import importlib.util
import os
import platform
import subprocess
import sys
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

"""Run the reliability suite (tests/reliability/) and write the figures its tests record to a table.

Each reliability test records what it measured next to the assertion that checks it (faults survived, inputs
rejected, invocations without failure, p99 latency ...; see tests/reliability/figures.py). This script runs
pytest on the suite with RELIABILITY_FIGURES pointing at a scratch file, then writes
benchmarks/results/reliability.md: the figures by section, the outcome of every test and how long it took.

    .venv/bin/python -m benchmarks.reliability           # the quick suite, as in `make test`
    .venv/bin/python -m benchmarks.reliability --soak    # `make soak`: more examples, clients, seconds
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

from benchmarks.common import RESULTS_DIR, ROOT, header, save_results

RESULTS = RESULTS_DIR / "reliability.md"
SUITE = "tests/reliability"


def run_suite(soak: bool, workdir: Path) -> tuple[int, float, Path, Path]:
    figures, junit = workdir / "figures.jsonl", workdir / "junit.xml"
    env = {**os.environ, "RELIABILITY_FIGURES": str(figures), "RELIABILITY_SOAK": "1" if soak else "0"}
    started = time.monotonic()
    command = [sys.executable, "-m", "pytest", SUITE, "-q", "-p", "no:cacheprovider", f"--junitxml={junit}"]
    if soak:
        command += ["-o", "timeout=1800"]
    code = subprocess.run(command, cwd=ROOT, env=env, check=False).returncode
    return code, time.monotonic() - started, figures, junit


def read_figures(path: Path) -> dict[str, list[tuple[str, object]]]:
    sections: dict[str, list[tuple[str, object]]] = defaultdict(list)
    if path.is_file():
        for line in path.read_text().splitlines():
            figure = json.loads(line)
            sections[figure["section"]].append((figure["what"], figure["value"]))
    return sections


def read_outcomes(path: Path) -> list[tuple[str, str, float]]:
    """(test, outcome, seconds) per test case of the JUnit report."""
    outcomes = []
    for case in ET.parse(path).getroot().iter("testcase"):  # noqa: S314 (pytest's own report, just written)
        outcome = next((child.tag for child in case if child.tag in ("failure", "error", "skipped")), "passed")
        outcomes.append((f"{case.get('classname')}::{case.get('name')}", outcome, float(case.get("time", 0))))
    return outcomes


def render(soak: bool, code: int, seconds: float, figures: dict, outcomes: list) -> str:
    passed = sum(outcome == "passed" for _, outcome, _ in outcomes)
    lines = [
        *header("Reliability"),
        "",
        f"`{SUITE}` {'in its soak variant (`make soak`)' if soak else 'as `make test` runs it'}, "
        f"{passed}/{len(outcomes)} tests passed in {seconds:.0f} s (pytest exit {code}).",
        "",
        "Every figure is recorded by the test that asserts on it (`tests/reliability/figures.py`), so a figure",
        "here comes from a passing assertion unless its test is listed as failed below.",
        "",
    ]
    for section in sorted(figures):
        lines += [f"## {section.capitalize()}", "", "| what | measured |", "|---|---|"]
        lines += [f"| {what} | {value} |" for what, value in figures[section]]
        lines.append("")
    lines += ["## Tests", "", "| test | outcome | seconds |", "|---|---|---:|"]
    lines += [f"| `{name}` | {outcome} | {took:.1f} |" for name, outcome, took in outcomes]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--soak", action="store_true", help="the long variant of every test")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="reliability-") as workdir:
        code, seconds, figures_path, junit = run_suite(args.soak, Path(workdir))
        figures = read_figures(figures_path)
        outcomes = read_outcomes(junit) if junit.is_file() else []
    text = render(args.soak, code, seconds, figures, outcomes)
    print(text)
    save_results(args.output, text)
    return code


if __name__ == "__main__":
    sys.exit(main())

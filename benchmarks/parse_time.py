"""DAG parse time beyond `import airflow.sdk`, against a 200 ms budget per file, in the same run.

For each `dags/*.py`, a fresh interpreter (cwd the repo root, PYTHONPATH the repo root and plugins/, as the DAG
processor sees them) times `import airflow.sdk` (the baseline every DAG file pays, and none can avoid), then
`runpy.run_path(<dag file>)` right after it: the parse time is what the file itself adds. Each file runs N times,
interleaved with the other files so that load on the machine hits all of them alike, after one uncounted warm-up
run each (bytecode compilation, the AIRFLOW_HOME of the run). The verdict is on the median; the max is shown
because the DAG processor's timeout applies to every parse, not to the median one.

After the counted runs, one more run per file under `python -X importtime` names the biggest imports the parse
pulled in (importtime inflates every figure, so only their order and share mean something), and every run lists
the heavy modules (pandas, xgboost, ...) found in sys.modules after the parse.

Every model's DAG file loads its spec, and a spec is checked against the other specs in its folder (two with one
name both fail), so a parse costs more as models are added. The default run measures the DAG files of `--specs`
models (10) side by side in one temporary project: the two shipped specs and copies of them under other names,
each with the three-line DAG file docs/your-model.md describes. `--shipped` measures dags/*.py as they are.

    .venv/bin/python -m benchmarks.parse_time [--repeats N] [--budget-ms MS] [--specs 10 | --shipped | dag files ...]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.common import RESULTS_DIR, ROOT, header, ratio, save_results

RESULTS = RESULTS_DIR / "parse_time.md"
BUDGET_MS = 200.0
HEAVY = ("pandas", "xgboost", "optuna", "sagemaker", "torch", "sklearn", "numpy")
# The probe runs in the fresh interpreter: perf_counter around each step, sys.modules before and after the parse.
PROBE = """\
import json, runpy, sys, time
start = time.perf_counter()
import airflow.sdk
imported = time.perf_counter()
before = set(sys.modules)
print("--- parse ---", file=sys.stderr, flush=True)
runpy.run_path(sys.argv[1])
parsed = time.perf_counter()
heavy = json.loads(sys.argv[2])
print(json.dumps({
    "import_s": imported - start,
    "parse_s": parsed - imported,
    "heavy_after_import": sorted(m for m in heavy if m in before),
    "heavy_after_parse": sorted(m for m in heavy if m in sys.modules),
    "new_modules": len(set(sys.modules) - before),
}))
"""
IMPORTTIME = re.compile(r"^import time:\s*(\d+)\s*\|\s*(\d+)\s*\|( *)(\S+)\s*$")


@dataclass
class FileResult:
    path: Path
    imports: list[float] = field(default_factory=list)  # seconds of `import airflow.sdk`, per run
    parses: list[float] = field(default_factory=list)  # seconds of runpy.run_path after it, per run
    heavy_after_import: set[str] = field(default_factory=set)
    heavy_after_parse: set[str] = field(default_factory=set)
    new_modules: list[int] = field(default_factory=list)
    top_imports: list[tuple[str, float]] = field(default_factory=list)  # (module, cumulative ms) from importtime
    import_total_ms: float = 0.0  # all imports of the parse, under importtime
    boto3_ms: float | None = None  # boto3's cumulative import, if the parse imported it

    @property
    def name(self) -> str:
        return self.path.name


def models_side_by_side(root: Path, count: int) -> list[Path]:
    """DAG files of `count` models whose specs share one folder: the shipped specs, then renamed copies of them."""
    import yaml

    shipped = sorted((ROOT / "include" / "models").glob("*.yaml"))
    specs, dags = root / "models", root / "dags"
    specs.mkdir()
    dags.mkdir()
    files = []
    for index in range(count):
        values = yaml.safe_load(shipped[index % len(shipped)].read_text())
        if index >= len(shipped):  # a copy: its own name, and none of the ids, prefixes or Asset its original keeps
            values["name"] = f"{values['name']}_{index}"
            for kept in ("dag_ids", "job_prefix", "storage_prefix"):
                values.pop(kept, None)
            values["data"].pop("asset", None)
            values.get("deployment", {}).pop("endpoint_name", None)
        spec = specs / f"{values['name']}.yaml"
        spec.write_text(yaml.safe_dump(values, sort_keys=False))
        dag = dags / f"{values['name']}.py"
        dag.write_text(
            f'"""Airflow DAGs of the {values["name"]} model."""\n\n'
            "from include.dag_factory import model_dags\n\n"
            f"model_dags({str(spec)!r})\n"
        )
        files.append(dag)
    return files


def probe_env(airflow_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
    # A throw-away AIRFLOW_HOME: importing Airflow must not write a config into the user's ~/airflow.
    env.update(
        PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'plugins'}",
        AIRFLOW_HOME=str(airflow_home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
    )
    return env


def run_probe(dag_file: Path, env: dict[str, str], importtime: bool = False) -> subprocess.CompletedProcess[str]:
    argv = [
        sys.executable,
        *(["-X", "importtime"] if importtime else []),
        "-c",
        PROBE,
        str(dag_file),
        json.dumps(HEAVY),
    ]
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"parsing {dag_file.name} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done


def import_profile(stderr: str, count: int = 2) -> tuple[list[tuple[str, float]], float, float | None]:
    """From -X importtime output: the largest outermost imports of the parse (ms), their total, and boto3's share.

    Outermost means nesting level 0, imported by the DAG file itself (or runpy). boto3 is singled out because it is
    the one big import the DAG files need at parse time: Airflow's s3:// Asset URI normalizer and the provider's
    operators import it, which is also why it is not on the heavy list.
    """
    outer: list[tuple[str, float]] = []
    boto3_ms = None
    seen_parse = False
    for line in stderr.splitlines():
        if line.startswith("--- parse ---"):
            seen_parse = True
            continue
        match = IMPORTTIME.match(line) if seen_parse else None
        if not match:
            continue
        name, cumulative_ms = match.group(4), int(match.group(2)) / 1000
        if len(match.group(3)) == 1:  # one space after the bar, two more per nesting level
            outer.append((name, cumulative_ms))
        if name == "boto3" and boto3_ms is None:
            boto3_ms = cumulative_ms
    total = sum(ms for _, ms in outer)
    return sorted(outer, key=lambda item: -item[1])[:count], total, boto3_ms


def measure(dag_files: list[Path], repeats: int) -> list[FileResult]:
    results = [FileResult(path) for path in dag_files]
    with tempfile.TemporaryDirectory(prefix="parse-time-bench-") as home:
        env = probe_env(Path(home))
        for result in results:  # warm-up: .pyc files and the AIRFLOW_HOME are written here, not in a counted run
            run_probe(result.path, env)
        for _ in range(repeats):
            for result in results:
                sample = json.loads(run_probe(result.path, env).stdout.strip().splitlines()[-1])
                result.imports.append(sample["import_s"])
                result.parses.append(sample["parse_s"])
                result.heavy_after_import.update(sample["heavy_after_import"])
                result.heavy_after_parse.update(sample["heavy_after_parse"])
                result.new_modules.append(sample["new_modules"])
        for result in results:
            profiled = run_probe(result.path, env, importtime=True).stderr
            result.top_imports, result.import_total_ms, result.boto3_ms = import_profile(profiled)
    return results


def report(results: list[FileResult], repeats: int, budget_ms: float) -> tuple[str, list[str]]:
    lines = [
        f"| DAG file | parse beyond `import airflow.sdk`, median (ms) | max (ms) | median / {budget_ms:g} ms budget | "
        "max / budget | `import airflow.sdk`, median (ms) | parse / import | modules added | verdict |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        median, worst = statistics.median(r.parses) * 1000, max(r.parses) * 1000
        baseline = statistics.median(r.imports) * 1000
        verdict = "**PASS**" if median <= budget_ms else "**FAIL**"
        lines.append(
            f"| {r.name} | {median:.0f} | {worst:.0f} | {ratio(median, budget_ms)} | {ratio(worst, budget_ms)} | "
            f"{baseline:.0f} | {ratio(median, baseline)} | {statistics.median(r.new_modules):.0f} | {verdict} |"
        )
    lines += [
        "",
        "| DAG file | heavy modules in sys.modules after the parse | biggest imports of the parse (`-X importtime`, "
        "cumulative ms, one run) | boto3's share of the parse's imports |",
        "|---|---|---|---:|",
    ]
    for r in results:
        from_sdk = r.heavy_after_import & r.heavy_after_parse
        heavy = [
            f"{m} (already after `import airflow.sdk`)" if m in from_sdk else m for m in sorted(r.heavy_after_parse)
        ]
        biggest = ", ".join(f"`{name}` {ms:.0f}" for name, ms in r.top_imports)
        boto3 = f"{r.boto3_ms / r.import_total_ms:.0%}" if r.boto3_ms and r.import_total_ms else "not imported"
        lines.append(f"| {r.name} | {', '.join(heavy) or 'none'} | {biggest} | {boto3} |")

    failing = [r.name for r in results if statistics.median(r.parses) * 1000 > budget_ms]
    over_max = [r.name for r in results if max(r.parses) * 1000 > budget_ms and r.name not in failing]
    slowest = max(results, key=lambda r: statistics.median(r.parses))
    heavy_files = [r.name for r in results if r.heavy_after_parse - r.heavy_after_import]
    interpretation = [
        (
            f"All {len(results)} DAG files meet the ≤ {budget_ms:g} ms budget on the median of {repeats} runs"
            if not failing
            else f"{', '.join(failing)} miss the ≤ {budget_ms:g} ms budget on the median of {repeats} runs"
        )
        + f"; the slowest is {slowest.name} at {statistics.median(slowest.parses) * 1000:.0f} ms "
        f"({statistics.median(slowest.parses) * 1000 / budget_ms:.0%} of the budget)."
        + (f" Single runs of {', '.join(over_max)} went over it (max column)." if over_max else ""),
        (
            f"Heavy modules appear after parsing {', '.join(heavy_files)}: a DAG file or what it imports at module "
            "level pulls them in."
            if heavy_files
            else "No heavy module (pandas, xgboost, optuna, sagemaker, torch, sklearn, numpy) is imported by a parse."
        ),
    ]
    return "\n".join(lines), interpretation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7, help="counted runs per DAG file (default 7)")
    parser.add_argument("--budget-ms", type=float, default=BUDGET_MS, help=f"budget per file (default {BUDGET_MS:g})")
    parser.add_argument("--specs", type=int, default=10, help="models side by side (default 10)")
    parser.add_argument("--shipped", action="store_true", help="measure dags/*.py as they are")
    parser.add_argument("dag_files", nargs="*", type=Path, help="measure these DAG files")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="parse-time-models-") as project:
        if args.dag_files:
            dag_files, setting = [p.resolve() for p in args.dag_files], "the DAG files given"
        elif args.shipped:
            dag_files, setting = sorted((ROOT / "dags").glob("*.py")), "dags/*.py as shipped"
        else:
            dag_files = models_side_by_side(Path(project), args.specs)
            setting = (
                f"{args.specs} models whose specs share one folder (the 2 shipped specs and renamed copies), "
                "each with its three-line DAG file"
            )
        results = measure(dag_files, args.repeats)
    table, interpretation = report(results, args.repeats, args.budget_ms)
    interpretation.insert(0, f"Measured: {setting}.")
    print(table)
    print()
    print("\n".join(interpretation))
    import airflow  # only for the version line; the measurements ran in their own interpreters

    save_results(
        RESULTS,
        "\n".join(header("DAG parse time", f"Airflow {airflow.__version__}")) + "\n"
        f"- N={args.repeats} counted runs per file, budget {args.budget_ms:g} ms; {setting}\n"
        "- each run is a fresh interpreter (cwd the repo root, PYTHONPATH the repo root and plugins/, a temporary "
        "AIRFLOW_HOME) that times `import airflow.sdk` (the baseline) and then `runpy.run_path(<dag file>)`; parse "
        "time is the second. Runs are interleaved across files after one uncounted warm-up run per file. Verdict on "
        "the median. Modules added: sys.modules entries the parse added (median). The importtime column comes from "
        "one extra run under `-X importtime`, which slows every import, so it shows where the time goes, not how "
        "much it is.\n\n"
        f"{table}\n\n" + "\n".join(interpretation) + "\n",
    )


if __name__ == "__main__":
    main()

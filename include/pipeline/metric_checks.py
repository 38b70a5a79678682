"""Prove metric definitions work before a tuning job spends money.

Tuning jobs fail quietly when a regex does not match what the script prints: the jobs run, emit nothing the
tuner can read, and count as failed (the seeds' "forgot to log the objective", "printed as a dict" pitfalls).
These checks run on the definitions and on real log lines of the script:

- every regex compiles and has exactly one capture group;
- the objective metric is defined (or is a built-in algorithm metric);
- on the sample log, every regex matches and captures a whole number (not `0` out of `0.81`, not `1` out of
  `1e-05`), the objective at least twice if the strategy needs intermediate values (Hyperband, Auto early
  stopping); hints name the usual causes (JSON output, spaces, case, tabs rendered as #011);
- each regex runs in a child process with a time limit, so a catastrophically backtracking pattern is
  reported instead of hanging the scheduler.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field

_MATCHER = r"""
import json, re, sys
spec = json.load(sys.stdin)
regex = re.compile(spec["regex"])
out = []
for line in spec["lines"]:
    m = regex.search(line)
    if m:
        out.append([line, m.group(1), m.end(1)])
print(json.dumps(out))
"""
_NUMBER_TAIL = re.compile(r"^(?:\.\d|\d|[eE][-+]?\d)")


@dataclass(frozen=True)
class MetricProblem:
    metric: str
    regex: str
    problem: str
    lines: tuple[str, ...] = field(default=())

    def __str__(self) -> str:
        text = f"metric {self.metric!r} (regex {self.regex!r}): {self.problem}"
        if self.lines:
            shown = "\n".join(f"    {line}" for line in self.lines[:5])
            more = f"\n    ... and {len(self.lines) - 5} more" if len(self.lines) > 5 else ""
            text += f"\n  tried on:\n{shown}{more}"
        return text


def check_definitions(
    definitions: Iterable[dict[str, str]], objective: str, builtin_metrics: Iterable[str] = ()
) -> list[MetricProblem]:
    """Static checks: compile, one capture group, unique names, objective defined."""
    problems: list[MetricProblem] = []
    names: list[str] = []
    for definition in definitions:
        name, regex = definition.get("Name", ""), definition.get("Regex", "")
        names.append(name)
        try:
            groups = re.compile(regex).groups
        except re.error as exc:
            problems.append(MetricProblem(name, regex, f"does not compile: {exc}"))
            continue
        if groups != 1:
            problems.append(
                MetricProblem(name, regex, f"has {groups} capture groups; it needs exactly one, around the value")
            )
    duplicated = sorted({n for n in names if names.count(n) > 1})
    for name in duplicated:
        problems.append(MetricProblem(name, "", "is defined more than once"))
    if objective not in names and objective not in set(builtin_metrics):
        problems.append(
            MetricProblem(objective, "", f"is the objective but has no metric definition (defined: {sorted(names)})")
        )
    return problems


def check_against_log(
    definitions: Iterable[dict[str, str]],
    objective: str,
    lines: list[str],
    *,
    intermediate: bool = False,
    timeout: float = 2.0,
) -> list[MetricProblem]:
    """Run each (compilable, one-group) regex over real log lines, as SageMaker would."""
    problems: list[MetricProblem] = []
    for definition in definitions:
        name, regex = definition["Name"], definition["Regex"]
        try:
            if re.compile(regex).groups != 1:
                continue  # check_definitions reports it
        except re.error:
            continue
        try:
            matches = _match_in_child(regex, lines, timeout)
        except subprocess.TimeoutExpired:
            problems.append(
                MetricProblem(
                    name,
                    regex,
                    f"took more than {timeout:g}s on {len(lines)} lines (catastrophic backtracking?); "
                    "SageMaker would stall or skip it",
                )
            )
            continue
        if not matches:
            problems.append(
                MetricProblem(
                    name, regex, "matches no line of the script's output" + _hint(name, regex, lines), tuple(lines)
                )
            )
            continue
        for line, captured, end in matches:
            try:
                float(captured)
            except ValueError:
                problems.append(MetricProblem(name, regex, f"captures {captured!r}, which is not a number", (line,)))
                break
            if _NUMBER_TAIL.match(line[end:]):
                problems.append(
                    MetricProblem(
                        name,
                        regex,
                        f"captures {captured!r} but the number goes on ({line[end : end + 8]!r}...): "
                        r"use a pattern such as ([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)",
                        (line,),
                    )
                )
                break
        if intermediate and name == objective and len(matches) < 2:
            problems.append(
                MetricProblem(
                    name,
                    regex,
                    f"is emitted {len(matches)} time(s); Hyperband and Auto early stopping need it every epoch",
                    tuple(m[0] for m in matches),
                )
            )
    return problems


def _match_in_child(regex: str, lines: list[str], timeout: float) -> list[list]:
    result = subprocess.run(
        [sys.executable, "-c", _MATCHER],
        input=json.dumps({"regex": regex, "lines": lines}),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    return json.loads(result.stdout)


def _hint(name: str, regex: str, lines: list[str]) -> str:
    mentioning = [line for line in lines if name in line]
    lowered = [line for line in lines if name.lower() in line.lower()]
    if any(line.lstrip().startswith("{") or f'"{name}"' in line or f"'{name}'" in line for line in mentioning):
        return f"; the script prints {name!r} as JSON/a dict, which this regex does not match"
    if mentioning and any(re.search(re.escape(name) + r"\s+[=:]|[=:]\s+", line) for line in mentioning):
        return f"; the script prints {name!r} with spaces around the separator"
    if not mentioning and lowered:
        return f"; the script prints {name!r} in another case"
    if any("#011" in line for line in lines) and ("\\t" in regex or "\t" in regex):
        return "; SageMaker renders tabs in the log as #011, so match #011, not \\t"
    if not mentioning:
        return f"; the script never prints {name!r}"
    return ""

"""Log line -> metric values, as SageMaker does: every MetricDefinitions regex on every line.

The value is the regex's first capture group; the objective (and FinalMetricDataList) is the last value
a job emitted. The built-in algorithm's own definitions are in algorithms.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterable


class MetricParser:
    def __init__(self, definitions: Iterable[dict[str, str]]) -> None:
        self._rules = [(d["Name"], re.compile(d["Regex"])) for d in definitions]

    def parse(self, line: str) -> list[tuple[str, float]]:
        found = []
        for name, regex in self._rules:
            match = regex.search(line)
            if match is None:
                continue
            try:
                found.append((name, float(match.group(1))))
            except (TypeError, ValueError, IndexError):
                continue  # AWS ignores a match whose group is not a number
        return found

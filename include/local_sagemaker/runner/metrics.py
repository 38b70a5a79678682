"""Log line -> metric values, as SageMaker does: every MetricDefinitions regex on every line.

The value is the regex's first capture group; the objective (and FinalMetricDataList) is the last value
a job emitted. Built-in algorithms come with AWS's own definitions; XGBoost's log renders tabs as `#011`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

NUMBER = r"[-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?"

_XGBOOST_METRICS = (
    "accuracy auc aucpr error f1 logloss mae map mape merror mlogloss mse ndcg poisson-nloglik r2 rmse "
    "rmsle gamma-nloglik cox-nloglik tweedie-nloglik"
).split()

BUILTIN_XGBOOST_METRIC_DEFINITIONS = [
    {"Name": f"{channel}:{metric}", "Regex": rf".*\[[0-9]+\].*#011{channel}-{metric}:({NUMBER}).*"}
    for channel in ("train", "validation")
    for metric in _XGBOOST_METRICS
]
# The round number of a built-in XGBoost log line, used as the step of intermediate metrics.
XGBOOST_ROUND = re.compile(r"^\[([0-9]+)\]")


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

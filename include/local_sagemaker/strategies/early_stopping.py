"""AMT's Auto early stopping: the median rule over running averages.

As AWS documents it: after each epoch of a training job, take its objective value; compute, for every other
training job that reached the same epoch, the running average of its objective up to that epoch; if the
job's value is worse than the median of those running averages, stop the job.
"""

from __future__ import annotations

import statistics


class MedianStoppingRule:
    def __init__(self, maximize: bool, min_other_jobs: int = 3, min_epoch: int = 1) -> None:
        if min_other_jobs < 1:
            raise ValueError(f"min_other_jobs must be >= 1, got {min_other_jobs}")
        self.maximize = maximize
        self.min_other_jobs = min_other_jobs
        self.min_epoch = min_epoch

    def should_stop(self, job: str, curves: dict[str, list[float]]) -> bool:
        """curves: job -> objective values per epoch so far (the job under test included)."""
        values = curves.get(job) or []
        epoch = len(values)
        if epoch <= self.min_epoch:
            return False
        averages = [
            statistics.fmean(other[:epoch]) for name, other in curves.items() if name != job and len(other) >= epoch
        ]
        if len(averages) < self.min_other_jobs:
            return False
        median = statistics.median(averages)
        current = values[-1]
        return current < median if self.maximize else current > median

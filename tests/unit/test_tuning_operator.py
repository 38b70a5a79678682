"""The tuning operator's progress line, from DescribeHyperParameterTuningJob answers."""

from __future__ import annotations

from include.pipeline.tuning_summary import progress_line


def test_progress_line_counts_finished_and_running_jobs():
    described = {
        "HyperParameterTuningJobConfig": {"ResourceLimits": {"MaxNumberOfTrainingJobs": 20}},
        "TrainingJobStatusCounters": {"Completed": 5, "Stopped": 1, "NonRetryableError": 1, "InProgress": 2},
        "BestTrainingJob": {
            "FinalHyperParameterTuningJobObjectiveMetric": {"MetricName": "validation:auc", "Value": 0.73124}
        },
    }
    assert progress_line(described) == "7/20 jobs done, 2 running, best validation:auc=0.7312"

"""Metric definitions for jobs that run training_scripts/train.py.

train.py prints one line per boosting round,

    [12] train:auc=0.812345; train:logloss=0.410000; validation:auc=0.791234; validation:logloss=0.430000;

and SageMaker (or the local SageMaker) applies each regex below to every log line; the one capture group is
the value, and the last match is the metric's final value. This is a copy of train.METRIC_DEFINITIONS:
training_scripts/ must not import project code and the pipeline must not import the training script, so a
test keeps the two equal.
"""

from __future__ import annotations

TRAINING_SCRIPT_METRIC_DEFINITIONS: list[dict[str, str]] = [
    {"Name": "train:auc", "Regex": r"train:auc=([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?);"},
    {"Name": "train:logloss", "Regex": r"train:logloss=([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?);"},
    {"Name": "validation:auc", "Regex": r"validation:auc=([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?);"},
    {
        "Name": "validation:logloss",
        "Regex": r"validation:logloss=([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?);",
    },
]

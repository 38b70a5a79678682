"""Metric definitions checked against real script output, with the seeds' pitfalls (pure)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from include.local_sagemaker.algorithms import BUILTIN_XGBOOST_METRIC_DEFINITIONS
from include.pipeline.metric_checks import check_against_log, check_definitions
from tests.specs import FLIGHT_METRIC_DEFINITIONS

NUMBER = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"
SCRIPT_LOG = [
    "[1] train:auc=0.712345; validation:auc=0.690000; validation:logloss=0.530000;",
    "[2] train:auc=0.812345; validation:auc=0.791234; validation:logloss=1.5e-01;",
]
BUILTIN_LOG = ["[0]#011train-auc:0.81#011validation-auc:0.79", "[1]#011train-auc:0.83#011validation-auc:0.80"]


def problems(definitions, lines, objective="validation:auc", intermediate=False, builtin=()):
    found = check_definitions(definitions, objective, builtin)
    found += check_against_log(definitions, objective, lines, intermediate=intermediate)
    return [str(p) for p in found]


def test_the_projects_definitions_pass_on_the_scripts_real_output(tmp_path):
    """The real training script, run for three rounds on a tiny sample, satisfies its own definitions."""
    root = Path(__file__).resolve().parents[2]
    for channel in ("train", "validation"):
        (tmp_path / channel).mkdir()
        rows = [f"{i % 2},{i % 7},{(i * 3) % 5}" for i in range(40)]
        (tmp_path / channel / "d.csv").write_text("\n".join(rows))
    env = {
        "SM_CHANNEL_TRAIN": str(tmp_path / "train"),
        "SM_CHANNEL_VALIDATION": str(tmp_path / "validation"),
        "SM_MODEL_DIR": str(tmp_path),
        "SM_OUTPUT_DATA_DIR": str(tmp_path),
        "SM_CHECKPOINT_DIR": str(tmp_path / "ckpt"),
    }
    out = subprocess.run(
        [sys.executable, str(root / "training_scripts" / "flight_delay" / "train.py"), "--num_round", "3"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.splitlines()
    assert problems(FLIGHT_METRIC_DEFINITIONS, out, intermediate=True) == []


def test_builtin_xgboost_metrics_pass_on_aws_log_lines():
    emitted = [d for d in BUILTIN_XGBOOST_METRIC_DEFINITIONS if d["Name"] in ("train:auc", "validation:auc")]
    assert problems(emitted, BUILTIN_LOG, intermediate=True) == []


# The seeds' and AWS forums' usual mistakes: (definitions, log lines, objective, expected fragment).
BAD = {
    "printed as JSON": (
        [{"Name": "validation:accuracy", "Regex": r"validation:accuracy=([0-9\.]+)"}],
        ['{"validation:accuracy": 0.91}'],
        "validation:accuracy",
        "as JSON/a dict",
    ),
    "no capture group": (
        [{"Name": "validation:auc", "Regex": r"validation:auc=[0-9.]+;"}],
        SCRIPT_LOG,
        "validation:auc",
        "0 capture groups",
    ),
    "two capture groups": (
        [{"Name": "validation:auc", "Regex": r"(validation):auc=([0-9.]+);"}],
        SCRIPT_LOG,
        "validation:auc",
        "2 capture groups",
    ),
    "does not compile": (
        [{"Name": "validation:auc", "Regex": r"validation:auc=([0-9.]+;"}],
        SCRIPT_LOG,
        "validation:auc",
        "does not compile",
    ),
    "objective never defined": (
        [{"Name": "validation:acc", "Regex": rf"validation:auc={NUMBER};"}],
        SCRIPT_LOG,
        "validation:auc",
        "has no metric definition",
    ),
    "captures text": (
        [{"Name": "validation:auc", "Regex": r"validation:auc=(\S+)"}],
        SCRIPT_LOG,
        "validation:auc",
        "not a number",
    ),
    "integer-only pattern truncates": (
        [{"Name": "validation:auc", "Regex": r"validation:auc=([0-9]+)"}],
        SCRIPT_LOG,
        "validation:auc",
        "the number goes on",
    ),
    "no exponent support": (
        [{"Name": "validation:logloss", "Regex": r"validation:logloss=([0-9.]+)"}],
        SCRIPT_LOG,
        "validation:logloss",
        "the number goes on",
    ),
    "tab instead of #011": (
        [{"Name": "validation:auc", "Regex": r"\[\d+\]\tvalidation-auc:([0-9.]+)"}],
        BUILTIN_LOG,
        "validation:auc",
        "#011",
    ),
    "unescaped brackets": (
        [{"Name": "validation:auc", "Regex": r"[0]#011train-auc:[0-9.]+#011validation-auc:([0-9.]+)"}],
        BUILTIN_LOG,
        "validation:auc",
        "matches no line",
    ),
    "spaces around the separator": (
        [{"Name": "validation:auc", "Regex": rf"validation:auc={NUMBER}"}],
        ["epoch 1 validation:auc = 0.71", "epoch 2 validation:auc = 0.74"],
        "validation:auc",
        "with spaces",
    ),
    "other case": (
        [{"Name": "Validation:AUC", "Regex": rf"Validation:AUC={NUMBER}"}],
        SCRIPT_LOG,
        "Validation:AUC",
        "another case",
    ),
    "duplicate definition": (
        [{"Name": "validation:auc", "Regex": rf"validation:auc={NUMBER};"}] * 2,
        SCRIPT_LOG,
        "validation:auc",
        "more than once",
    ),
    "objective only at the end, with Hyperband": (
        [{"Name": "validation:auc", "Regex": rf"final validation:auc={NUMBER}"}],
        ["training...", "final validation:auc=0.8"],
        "validation:auc",
        "every epoch",
    ),
    "catastrophic backtracking": (
        [{"Name": "validation:auc", "Regex": r"validation:auc=((?:\d+)*)*x"}],
        ["validation:auc=" + "1" * 40],
        "validation:auc",
        "catastrophic backtracking",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_realistic_bad_metric_definitions_are_caught_with_a_useful_message(case):
    definitions, lines, objective, expected = BAD[case]
    found = problems(definitions, lines, objective, intermediate=True)
    assert any(expected in p for p in found), found
    assert all(objective in p or definitions[0]["Name"] in p for p in found)  # names the metric

"""Log lines to metrics, as SageMaker parses them (pure)."""

from __future__ import annotations

import pytest

from include.local_sagemaker.algorithms import BUILTIN_XGBOOST_METRIC_DEFINITIONS
from include.local_sagemaker.runner.metrics import MetricParser
from tests.specs import FLIGHT_METRIC_DEFINITIONS


def test_builtin_xgboost_lines_with_aws_tab_rendering():
    parser = MetricParser(BUILTIN_XGBOOST_METRIC_DEFINITIONS)
    found = dict(parser.parse("[3]#011train-auc:0.81#011validation-auc:0.79#011validation-logloss:4.5e-01"))
    assert found == {"train:auc": 0.81, "validation:auc": 0.79, "validation:logloss": 0.45}
    assert parser.parse("[3]\ttrain-auc:0.81") == []  # a raw tab is not what AWS's regexes expect


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ("[7] validation:auc=0.812345; train:auc=0.9;", 0.812345),
        ("[7] validation:auc=1e-3;", 0.001),
        ("[7] validation:auc=-2.5E+2;", -250.0),
        ("[7] validation:auc=.5;", 0.5),
    ],
)
def test_the_training_scripts_regexes_parse_exponents_and_signs(line, value):
    found = dict(MetricParser(FLIGHT_METRIC_DEFINITIONS).parse(line))
    assert found["validation:auc"] == value


def test_a_group_that_is_not_a_number_is_ignored_as_aws_does():
    parser = MetricParser([{"Name": "loss", "Regex": r"loss=(\S+)"}])
    assert parser.parse("loss=nan-ish") == []
    assert parser.parse("loss=0.25") == [("loss", 0.25)]

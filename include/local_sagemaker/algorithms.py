"""The algorithm images the local SageMaker runs and serves, and what the built-in algorithm logs.

A leaf: validation (models/), training (runner/) and serving (serving/) all ask it, so the three agree on
which image is the built-in XGBoost algorithm and which runs a script.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

XGBOOST_IMAGE = re.compile(r"(^|/)(sagemaker-)?xgboost:[^/]*$")
SKLEARN_IMAGE = re.compile(r"(^|/)sagemaker-scikit-learn:[^/]*$")
# Images that run (and serve) a script of the caller's own: sagemaker_program, or the SDK v3's entry point.
SCRIPT_MODE_IMAGES = (XGBOOST_IMAGE, SKLEARN_IMAGE)
SUPPORTED_IMAGES = (
    "the SageMaker XGBoost images (…/sagemaker-xgboost:<version>) as the built-in algorithm or in script "
    "mode, and the SageMaker scikit-learn images (…/sagemaker-scikit-learn:<version>) in script mode "
    "(hyperparameters sagemaker_program and sagemaker_submit_directory, or a ContainerEntrypoint as the "
    "SageMaker Python SDK v3 ModelTrainer sends)"
)

# How the images' programs (training jobs, endpoint workers) start, besides what SageMaker itself sets. On AWS each
# job and endpoint instance has cores of its own; here the jobs in flight, the endpoints and this service share one
# machine's. OpenMP (XGBoost, scikit-learn) by default keeps a thread that waits for work spinning on its core, which
# on shared cores takes the time the other jobs' threads need: 10 flight-model jobs of 100 rounds, 2 at a time on two
# cores, took 43 s and 85 CPU-s instead of 11 s and 20 (benchmarks/results/shared_cores.md). Waiting threads sleep
# instead: the same threads do the same arithmetic, so the models are the same. The price is paid when one job runs
# alone: 23.6 s instead of 18.7 for the same 10 jobs one at a time. A job's own Environment can set it otherwise.
SHARED_CORES_ENVIRONMENT = {"OMP_WAIT_POLICY": "PASSIVE"}

NUMBER = r"[-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?"
XGBOOST_METRICS = (
    "accuracy auc aucpr error f1 logloss mae map mape merror mlogloss mse ndcg poisson-nloglik r2 rmse "
    "rmsle gamma-nloglik cox-nloglik tweedie-nloglik"
).split()
# AWS's own definitions for the built-in XGBoost algorithm; its log renders tabs as `#011`.
BUILTIN_XGBOOST_METRIC_DEFINITIONS = [
    {"Name": f"{channel}:{metric}", "Regex": rf".*\[[0-9]+\].*#011{channel}-{metric}:({NUMBER}).*"}
    for channel in ("train", "validation")
    for metric in XGBOOST_METRICS
]


def runs_script(image: str) -> bool:
    return any(pattern.search(image) for pattern in SCRIPT_MODE_IMAGES)


def is_builtin_xgboost(image: str, hyperparameters: Mapping[str, str], entrypoint: object = None) -> bool:
    """The built-in algorithm runs when nothing else is asked for: no script, no entry point of the caller's."""
    return bool(XGBOOST_IMAGE.search(image or "")) and "sagemaker_program" not in hyperparameters and not entrypoint


def metric_definitions(algorithm: Mapping[str, Any], hyperparameters: Mapping[str, str]) -> list[dict[str, str]]:
    """The metric definitions a job's log is parsed with: AWS's own for the built-in XGBoost algorithm, then the
    AlgorithmSpecification's MetricDefinitions."""
    own = list(algorithm.get("MetricDefinitions") or [])
    if is_builtin_xgboost(algorithm.get("TrainingImage") or "", hyperparameters, algorithm.get("ContainerEntrypoint")):
        return BUILTIN_XGBOOST_METRIC_DEFINITIONS + own
    return own

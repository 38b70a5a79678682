# Absolute imports: Airflow's plugin loader also imports each file under plugins/ on its own, by path.
from hpo_sagemaker.operators.overfit import OverfitStopSensor
from hpo_sagemaker.operators.tuning import ReattachingTuningOperator
from hpo_sagemaker.operators.validation import MetricRegexValidationOperator, SpotTrainingConfigOperator

__all__ = [
    "MetricRegexValidationOperator",
    "OverfitStopSensor",
    "ReattachingTuningOperator",
    "SpotTrainingConfigOperator",
]

from .tuning import ReattachingTuningOperator
from .validation import MetricRegexValidationOperator, SpotTrainingConfigOperator

__all__ = ["MetricRegexValidationOperator", "ReattachingTuningOperator", "SpotTrainingConfigOperator"]

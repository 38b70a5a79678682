from .tuning import ReattachingTuningOperator

__all__ = ["ReattachingTuningOperator"]

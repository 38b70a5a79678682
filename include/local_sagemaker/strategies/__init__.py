"""Search strategies behind AMT's names, on Optuna: Bayesian, Random, Grid, Hyperband; early stopping."""

from .base import Strategy, Suggestion, make_strategy
from .early_stopping import MedianStoppingRule
from .space import Parameter, SearchSpace

__all__ = ["MedianStoppingRule", "Parameter", "SearchSpace", "Strategy", "Suggestion", "make_strategy"]

"""Candidate changes to the Bayesian strategy's GP that need more than GPEISampler's options, as subclasses the
search-quality suite measures (benchmarks/search_suite.py, issue 23). Neither ships.

WarpedGPEISampler, input warping (Snoek, Swersky, Zemel & Adams 2014, "Input warping for Bayesian optimization of
non-stationary functions"): each continuous dimension x of the unit cube goes through a Kumaraswamy CDF,
w(x) = 1 - (1 - x^a)^b, before the stationary Matern kernel, with (a, b) fitted alongside the kernel's other
hyperparameters. a, b = 1 is the identity; other values stretch one end of a range and compress the other, as a
learning rate's response does on a log scale. Each log a, log b has a normal prior N(0, 0.75) (BoTorch's Warp
default), added to the shipped MAP fit's penalty.

The kernel's theta is the shipped one's, (log C, log l_1..l_d, log noise), followed by (log a_1..a_d, log b_1..b_d),
so the shipped length-scale prior keeps reading theta[1 : 1 + d]. The marginal likelihood's gradient with respect
to the warping is taken by finite differences (2d extra kernel matrices per step, small at these sizes).

LooPriorGPEISampler, the length-scale prior chosen by the data: the kernel is fitted twice, under the shipped prior
(Optuna's, which pulls every length scale towards 1) and under Hvarfner et al.'s dimension-scaled one (which lets a
dimension the data do not vary along go flat), and the fit whose leave-one-out predictive log density is higher is
used. The suite found each prior better where the other is worse (search_suite_candidates.md, `believer+dim-scaled`):
the dimension-scaled one on branin with 3 nuisance dimensions, the shipped one on hartmann6, ackley10 and mixed6.
Leave-one-out is closed form for a GP (Sundararajan & Keerthi 2001): with A = (K + noise)^-1 and a = A y, point i's
held-out mean is off by a_i / A_ii with variance 1 / A_ii.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from sklearn.gaussian_process.kernels import Hyperparameter, Kernel

from include.local_sagemaker.strategies.gp import GPEISampler, _map_optimizer

WARP_BOUNDS = (0.2, 5.0)
WARP_PRIOR_VARIANCE = 0.75
_EDGE = 1e-6  # x^a and (1 - x^a)^b are kept off 0 and 1, where their derivatives blow up
_STEP = 1e-5  # finite-difference step on log a, log b


class KumaraswamyWarp(Kernel):
    """`kernel` applied to the inputs warped dimension by dimension (where `mask` is set) by a Kumaraswamy CDF."""

    def __init__(self, kernel: Kernel, mask: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
        self.kernel = kernel
        self.mask = mask
        self.a = a
        self.b = b

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        params: dict[str, Any] = {"kernel": self.kernel, "mask": self.mask, "a": self.a, "b": self.b}
        if deep:
            params.update(("kernel__" + k, v) for k, v in self.kernel.get_params().items())
        return params

    @property
    def hyperparameters(self) -> list[Hyperparameter]:
        inner = [
            Hyperparameter("kernel__" + h.name, h.value_type, h.bounds, h.n_elements)
            for h in self.kernel.hyperparameters
        ]
        count = len(np.atleast_1d(self.a))
        return inner + [Hyperparameter(name, "numeric", WARP_BOUNDS, count) for name in ("a", "b")]

    def warp(self, x: np.ndarray, a: np.ndarray | None = None, b: np.ndarray | None = None) -> np.ndarray:
        a = np.atleast_1d(self.a if a is None else a)
        b = np.atleast_1d(self.b if b is None else b)
        out = np.array(x, dtype=float, copy=True)
        columns = np.clip(out[:, self.mask], _EDGE, 1 - _EDGE)
        out[:, self.mask] = 1 - (1 - columns**a) ** b
        return out

    def __call__(self, X: np.ndarray, Y: np.ndarray | None = None, eval_gradient: bool = False) -> Any:
        wy = None if Y is None else self.warp(Y)
        if not eval_gradient:
            return self.kernel(self.warp(X), wy)
        if Y is not None:
            raise ValueError("gradient only for k(X, X)")
        K, inner = self.kernel(self.warp(X), eval_gradient=True)
        count = len(np.atleast_1d(self.a))
        extra = np.empty(K.shape + (2 * count,))
        for j in range(2 * count):
            a, b = np.atleast_1d(np.array(self.a, dtype=float)), np.atleast_1d(np.array(self.b, dtype=float))
            target = a if j < count else b
            target[j % count] *= np.exp(_STEP)
            extra[:, :, j] = (self.kernel(self.warp(X, a, b)) - K) / _STEP
        return K, np.concatenate([inner, extra], axis=2)

    def diag(self, X: np.ndarray) -> np.ndarray:
        return self.kernel.diag(self.warp(X))

    def is_stationary(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"KumaraswamyWarp({self.kernel!r}, a={np.round(self.a, 2)}, b={np.round(self.b, 2)})"


def _warp_optimizer(dims: int, warped: int) -> Any:
    """The shipped MAP fit (Optuna's length-scale penalty) plus N(0, WARP_PRIOR_VARIANCE) on every log a, log b."""
    shipped = _map_optimizer(dims, "optuna")
    tail = slice(-2 * warped, None)

    def optimizer(objective: Any, theta: np.ndarray, bounds: np.ndarray) -> tuple[np.ndarray, float]:
        def penalised(t: np.ndarray, eval_gradient: bool = True) -> tuple[float, np.ndarray]:
            value, gradient = objective(t, eval_gradient=True)
            gradient = np.array(gradient, dtype=float)
            gradient[tail] += t[tail] / WARP_PRIOR_VARIANCE
            return value + float(np.sum(t[tail] ** 2) / (2 * WARP_PRIOR_VARIANCE)), gradient

        return shipped(penalised, theta, bounds)

    return optimizer


class WarpedGPEISampler(GPEISampler):
    """The shipped GPEISampler whose kernel sees the inputs through a fitted Kumaraswamy warping."""

    def _new_kernel(self, x: np.ndarray) -> tuple[Any, Any]:
        kernel, _ = super()._new_kernel(x)
        mask = np.ones(x.shape[1], dtype=bool) if self._continuous is None else self._continuous
        warped = int(mask.sum())
        return KumaraswamyWarp(kernel, mask, np.ones(warped), np.ones(warped)), _warp_optimizer(x.shape[1], warped)

    # The encoding's continuous columns, noted at each ask for the fits it makes: one-hot categorical columns stay
    # unwarped.
    _continuous: np.ndarray | None = None

    def _propose(self, encoding: Any, *args: Any, **kwargs: Any) -> np.ndarray:
        self._continuous = encoding.continuous
        return super()._propose(encoding, *args, **kwargs)


def loo_log_density(gp: Any) -> float:
    """Sum over the fitted points of log p(y_i | every other point), in the fitted GP's normalised units."""
    from scipy.linalg import cho_solve

    inverse = cho_solve((gp.L_, True), np.eye(len(gp.L_)))
    variance = 1.0 / np.diag(inverse)
    residual = gp.alpha_.ravel() * variance
    return float(np.sum(-0.5 * np.log(2 * np.pi * variance) - residual**2 / (2 * variance)))


class LooPriorGPEISampler(GPEISampler):
    """The shipped GPEISampler fitting its kernel under both length-scale priors and keeping the one whose fit
    predicts each point from the others better."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.picks: Counter[str] = Counter()  # how often each prior's fit was chosen, to read off a run

    def _fit(self, x: np.ndarray, y: np.ndarray, kernel: Any = None, rng: np.random.RandomState | None = None) -> Any:
        if kernel is not None:
            return super()._fit(x, y, kernel=kernel, rng=rng)
        fits = {}
        for prior in ("optuna", "dim-scaled"):
            self.length_scale_prior = prior
            fits[prior] = super()._fit(x, y, rng=rng)
        self.length_scale_prior = "optuna"
        chosen = max(fits, key=lambda prior: loo_log_density(fits[prior]))
        self.picks[chosen] += 1
        return fits[chosen]

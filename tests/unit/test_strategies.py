"""Unit tests of the search strategies and the early stopping rule (pure, in-process)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from optuna.trial import TrialState

from include.local_sagemaker.models.tuning import Trial
from include.local_sagemaker.models.tuning import TrialState as State
from include.local_sagemaker.strategies import MedianStoppingRule, SearchSpace, make_strategy

RANGES = {
    "ContinuousParameterRanges": [
        {"Name": "eta", "MinValue": "0.001", "MaxValue": "0.5", "ScalingType": "Logarithmic"},
        {"Name": "subsample", "MinValue": "0.5", "MaxValue": "0.999", "ScalingType": "ReverseLogarithmic"},
        {"Name": "gamma", "MinValue": "0", "MaxValue": "5"},
    ],
    "IntegerParameterRanges": [{"Name": "max_depth", "MinValue": "2", "MaxValue": "10"}],
    "CategoricalParameterRanges": [{"Name": "booster", "Values": ["gbtree", "dart"]}],
}


def finished(suggestion, value: float) -> Trial:
    """A suggestion's trial as a tuning job persists it once its job ended with `value`."""
    return Trial(
        suggestion.trial,
        f"job-{suggestion.trial}",
        suggestion.hyperparameters,
        state=State.FINISHED,
        objective=value,
    )


def run(strategy, n: int, objective) -> list[dict[str, str]]:
    seen = []
    for _ in range(n):
        suggestion = strategy.suggest()
        if suggestion is None:
            break
        seen.append(suggestion.hyperparameters)
        strategy.tell(suggestion.trial, objective(suggestion.hyperparameters))
    return seen


@pytest.mark.parametrize("name", ["Bayesian", "Random", "Hyperband"])
def test_suggestions_stay_in_range_and_a_seed_reproduces_them(name):
    space = SearchSpace.from_ranges(RANGES)
    first = run(make_strategy(name, space, True, 3, {"MaxResource": 9}), 12, lambda h: float(h["gamma"]))
    again = run(make_strategy(name, space, True, 3, {"MaxResource": 9}), 12, lambda h: float(h["gamma"]))
    assert first == again
    for h in first:
        assert 0.001 <= float(h["eta"]) <= 0.5
        assert 0.5 <= float(h["subsample"]) <= 0.999
        assert 2 <= int(h["max_depth"]) <= 10 and h["max_depth"].isdigit()
        assert h["booster"] in ("gbtree", "dart")


def test_scaling_puts_the_samples_where_aws_says():
    space = SearchSpace.from_ranges(RANGES)
    samples = run(make_strategy("Random", space, True, 0), 400, lambda h: 0.0)
    eta = [float(h["eta"]) for h in samples]
    subsample = [float(h["subsample"]) for h in samples]
    # Logarithmic: as many samples per decade; linear would put ~80 % above 0.1.
    assert 0.2 < sum(e < 0.01 for e in eta) / len(eta) < 0.5
    # ReverseLogarithmic: dense near 1; linear would put ~2 % above 0.99.
    assert sum(s > 0.99 for s in subsample) / len(subsample) > 0.15


def test_auto_scaling_goes_logarithmic_over_two_orders_of_magnitude():
    space = SearchSpace.from_ranges(
        {
            "ContinuousParameterRanges": [
                {"Name": "wide", "MinValue": "0.001", "MaxValue": "1"},
                {"Name": "narrow", "MinValue": "0.1", "MaxValue": "1"},
            ]
        }
    )
    scaling = {p.name: p.scaling for p in space.parameters}
    assert scaling == {"wide": "Logarithmic", "narrow": "Linear"}


def test_grid_visits_every_combination_once_then_stops():
    ranges = {
        "CategoricalParameterRanges": [{"Name": "a", "Values": ["1", "2", "3"]}, {"Name": "b", "Values": ["x", "y"]}]
    }
    strategy = make_strategy("Grid", SearchSpace.from_ranges(ranges), False, 5)
    seen = run(strategy, 100, lambda h: 1.0)
    assert sorted((h["a"], h["b"]) for h in seen) == sorted((a, b) for a in "123" for b in "xy")
    assert strategy.exhausted and strategy.suggest() is None


def test_restore_replays_trials_and_continues_like_the_original():
    space = SearchSpace.from_ranges(RANGES)
    original = make_strategy("Bayesian", space, True, 9)
    records = []
    for _ in range(8):
        s = original.suggest()
        value = -abs(float(s.hyperparameters["gamma"]) - 2)
        records.append(finished(s, value))
        original.tell(s.trial, value)
    restored = make_strategy("Bayesian", space, True, 9)
    restored.restore(records)
    assert [t.value for t in restored.study.trials] == [t.value for t in original.study.trials]
    assert restored.suggest().hyperparameters  # and it goes on


def test_seed_with_skips_parent_jobs_outside_the_new_ranges():
    narrow = SearchSpace.from_ranges(
        {"IntegerParameterRanges": [{"Name": "max_depth", "MinValue": "3", "MaxValue": "5"}]}
    )
    strategy = make_strategy("Bayesian", narrow, True, 1)
    added = strategy.seed_with([({"max_depth": "4"}, 0.8), ({"max_depth": "9"}, 0.9), ({"other": "1"}, 0.7)])
    assert added == 1
    assert strategy.study.best_value == 0.8


def test_hyperband_stops_poor_curves_and_keeps_good_ones():
    space = SearchSpace.from_ranges({"ContinuousParameterRanges": [{"Name": "x", "MinValue": "0", "MaxValue": "1"}]})
    strategy = make_strategy("Hyperband", space, True, 0, {"MinResource": 1, "MaxResource": 27})
    stopped_at = {}
    for _ in range(30):
        s = strategy.suggest()
        quality = 1 - (float(s.hyperparameters["x"]) - 0.7) ** 2
        step = 0
        for step in range(1, 28):
            if strategy.report(s.trial, step, quality * (1 - 0.5**step)):
                break
        stopped_at[s.trial] = (step, quality)
        strategy.tell(s.trial, quality * (1 - 0.5**step))
    short = [q for step, q in stopped_at.values() if step < 27]
    full = [q for step, q in stopped_at.values() if step == 27]
    assert short and full
    assert sum(full) / len(full) > sum(short) / len(short)


@given(
    curves=st.dictionaries(
        st.sampled_from("abcdefg"),
        st.lists(st.floats(0, 1), min_size=1, max_size=8),
        min_size=1,
    ),
    maximize=st.booleans(),
)
def test_median_rule_matches_its_definition(curves, maximize):
    rule = MedianStoppingRule(maximize=maximize)
    for job, values in curves.items():
        epoch = len(values)
        others = [sum(v[:epoch]) / epoch for name, v in curves.items() if name != job and len(v) >= epoch]
        expected = False
        if epoch > 1 and len(others) >= 3:
            others.sort()
            mid = len(others) // 2
            median = others[mid] if len(others) % 2 else (others[mid - 1] + others[mid]) / 2
            expected = values[-1] < median if maximize else values[-1] > median
            if math.isclose(values[-1], median):
                continue  # float rounding of the median decides; not what this test is about
        assert rule.should_stop(job, curves) == expected


def test_median_rule_refuses_nonsense():
    with pytest.raises(ValueError, match="min_other_jobs"):
        MedianStoppingRule(maximize=True, min_other_jobs=0)


@pytest.mark.parametrize("name", ["Bayesian", "Random"])
def test_enqueued_parent_bests_run_first_and_a_restart_does_not_run_them_twice(name):
    space = SearchSpace.from_ranges(RANGES)
    donor = make_strategy(name, space, maximize=True, seed=3)
    bests = [donor.suggest().hyperparameters for _ in range(3)]
    first = make_strategy(name, space, maximize=True, seed=1)
    assert first.enqueue(bests) == 3
    tried = first.suggest()
    assert tried.hyperparameters == bests[0]
    # A restart after the first job: the strategy is rebuilt from the persisted trial, then the rest enqueued.
    again = make_strategy(name, space, maximize=True, seed=1)
    again.restore([Trial(tried.trial, "job-1", tried.hyperparameters)])
    assert again.enqueue(bests, skip=1) == 2
    assert [again.suggest().hyperparameters for _ in range(2)] == bests[1:]
    assert again.suggest().hyperparameters not in bests  # then the sampler's own choices


def _surface(h: dict[str, str]) -> float:
    """A smooth objective with its peak at gamma 2, max_depth 6."""
    return 0.8 - 0.01 * (float(h["gamma"]) - 2) ** 2 - 0.002 * (int(h["max_depth"]) - 6) ** 2


def test_transfer_relevels_each_parent_by_what_its_best_scores_on_the_new_data():
    space = SearchSpace.from_ranges(RANGES)
    donor = make_strategy("Random", space, True, 4)
    configs = [donor.suggest().hyperparameters for _ in range(12)]
    # Two parents measured on other days: the same surface, 0.05 lower and 0.03 higher than today's.
    evaluated = [("a", h, _surface(h) - 0.05) for h in configs[:6]] + [
        ("b", h, _surface(h) + 0.03) for h in configs[6:]
    ]
    child = make_strategy("Bayesian", space, True, 1)
    assert child.transfer(evaluated, limit=5) == 2
    sampler = child.study.sampler

    def shifted():
        done = child.study.get_trials(states=(TrialState.COMPLETE,))
        return sorted(value for _, value in sampler._transferred(done, child.space.distributions(), 1.0))

    first = child.suggest()  # parent a's best, re-run on today's data
    assert first.hyperparameters == max(configs[:6], key=_surface)
    assert shifted() == []  # nothing is known about either parent's level before its best has run here
    child.tell(first.trial, _surface(first.hyperparameters))
    # a's other five jobs join at today's level; b, whose best has not run here, still contributes nothing
    assert shifted() == pytest.approx(sorted(_surface(h) for h in configs[:6] if h != first.hyperparameters))
    second = child.suggest()
    assert second.hyperparameters == max(configs[6:], key=_surface)
    child.tell(second.trial, _surface(second.hyperparameters))
    assert shifted() == pytest.approx(
        sorted(_surface(h) for h in configs if h not in (first.hyperparameters, second.hyperparameters))
    )


def test_a_transfer_child_moves_towards_the_parents_peak_and_restores_to_the_same_suggestion():
    space = SearchSpace.from_ranges(RANGES)
    donor = make_strategy("Random", space, True, 8)
    configs = [donor.suggest().hyperparameters for _ in range(30)]
    evaluated = [("a", h, _surface(h) - 0.1) for h in configs]

    def child_after(records):
        child = make_strategy("Bayesian", space, True, 2)
        child.restore(records)
        child.transfer(evaluated, limit=5, skip=len(records))
        return child

    child = child_after([])
    records = []
    for _ in range(4):
        s = child.suggest()
        records.append(finished(s, _surface(s.hyperparameters)))
        child.tell(s.trial, _surface(s.hyperparameters))
    # After re-running the parent's best, with 29 re-levelled parent jobs the model proposes near the peak
    # (gamma 2, max_depth 6) rather than anywhere in gamma 0-5 / max_depth 2-10.
    proposals = [r.hyperparameters for r in records[1:]]
    assert all(abs(float(h["gamma"]) - 2) < 0.5 and abs(int(h["max_depth"]) - 6) <= 1 for h in proposals), proposals
    # A restart rebuilds the same model: two restored children propose the same next job.
    assert child_after(records).suggest().hyperparameters == child_after(records).suggest().hyperparameters


def test_transfer_models_at_most_max_transferred_parent_jobs_spread_over_their_ranking():
    from include.local_sagemaker.strategies.gp import MAX_TRANSFERRED

    space = SearchSpace.from_ranges(RANGES)
    donor = make_strategy("Random", space, True, 5)
    configs = [donor.suggest().hyperparameters for _ in range(MAX_TRANSFERRED + 101)]
    child = make_strategy("Bayesian", space, True, 1)
    child.transfer([("a", h, _surface(h)) for h in configs], limit=1)
    first = child.suggest()
    child.tell(first.trial, _surface(first.hyperparameters))
    done = child.study.get_trials(states=(TrialState.COMPLETE,))
    values = [v for _, v in child.study.sampler._transferred(done, space.distributions(), 1.0)]
    others = sorted((_surface(h) for h in configs if h != first.hyperparameters), reverse=True)
    assert len(values) == MAX_TRANSFERRED
    assert max(values) == pytest.approx(others[0]) and min(values) == pytest.approx(others[-1])


def counted(sampler):  # noqa: ANN001, ANN201
    """The sampler, with the number of points of each GP fit (and whether it fitted the kernel) recorded."""
    fitted: list[tuple[int, bool]] = []
    fit = sampler._fit

    def counting_fit(points, values, kernel=None, rng=None):  # noqa: ANN001, ANN202
        fitted.append((len(points), kernel is None))
        return fit(points, values, kernel, rng)

    sampler._fit = counting_fit
    return fitted


def test_past_max_fitted_points_the_kernel_is_fitted_on_a_spread_and_the_posterior_knows_every_point():
    import numpy as np

    from include.local_sagemaker.strategies.gp import MAX_FITTED, REFIT_EVERY, GPEISampler

    rng = np.random.RandomState(0)
    x = rng.uniform(size=(MAX_FITTED + 150 + REFIT_EVERY - 1, 2))
    y = np.sin(6 * x[:, 0]) + x[:, 1]  # smooth, noiseless
    sampler = GPEISampler(seed=3)
    fitted = counted(sampler)
    gp = sampler._model(x, y, np.arange(len(x)))
    # The hyperparameter fit saw MAX_FITTED points; the posterior was then conditioned on all of them.
    assert fitted == [(MAX_FITTED, True), (len(x), False)]
    assert np.abs(gp.predict(x) - y).max() < 0.05 * np.ptp(y)
    unseen = rng.uniform(size=(200, 2))
    assert np.abs(gp.predict(unseen) - (np.sin(6 * unseen[:, 0]) + unseen[:, 1])).mean() < 0.05 * np.ptp(y)


def finished_first(x, y, order, n):  # noqa: ANN001, ANN201
    """The n jobs finished first (order: row numbers by completion) as a study lists them (by trial number), and
    their rows in the order they finished: what sample_relative hands _model."""
    import numpy as np

    rows = np.sort(order[:n])
    rank = np.argsort(order[:n])  # rank[i]: when rows[i] finished
    return x[rows], y[rows], np.argsort(rank)


def test_the_kernel_is_refitted_every_refit_every_points_and_a_restart_fits_the_same_one():
    import numpy as np

    from include.local_sagemaker.strategies.gp import REFIT_EVERY, REFIT_FROM, GPEISampler

    rng = np.random.RandomState(1)
    x = rng.uniform(size=(REFIT_FROM + 2 * REFIT_EVERY, 3))
    y = np.cos(4 * x[:, 0]) - x[:, 1] ** 2 + 0.01 * rng.normal(size=len(x))
    order = rng.permutation(len(x))  # the order the jobs finished in, not their rows' order
    sampler = GPEISampler(seed=5)
    fitted = counted(sampler)
    kernels = {}
    for n in range(REFIT_FROM - 1, len(x) + 1):
        kernels[n] = sampler._model(*finished_first(x, y, order, n)).kernel_
    refits = [n for n, kernel_fit in fitted if kernel_fit]
    # Below REFIT_FROM every ask fits its kernel; from there on only at multiples of REFIT_EVERY.
    assert refits == [REFIT_FROM - 1, REFIT_FROM, REFIT_FROM + REFIT_EVERY, REFIT_FROM + 2 * REFIT_EVERY]
    assert kernels[REFIT_FROM + 3] == kernels[REFIT_FROM] != kernels[REFIT_FROM + REFIT_EVERY]
    # A sampler restored at REFIT_FROM + 13 points (a service restart) fits the kernel the first one used there.
    n = REFIT_FROM + REFIT_EVERY + 3
    assert GPEISampler(seed=5)._model(*finished_first(x, y, order, n)).kernel_ == kernels[n]


def test_the_copula_keeps_the_order_and_forgets_the_scale():
    """Output warping (a suite variant): ranks to normal quantiles; one catastrophic value no longer dominates."""
    import numpy as np

    from include.local_sagemaker.strategies.gp import _copula

    y = np.array([0.91, 0.92, 0.5, 0.93, 0.92])
    warped = _copula(y)
    assert list(np.argsort(warped, kind="stable")) == list(np.argsort(y, kind="stable"))
    assert warped[1] == warped[4]  # ties share their rank
    assert abs(warped.mean()) < 0.01  # centred (exactly, without ties)
    # The gap between the good values is as wide as the gap to the outlier: only the order is left.
    assert (warped[3] - warped[0]) > (warped[0] - warped[2]) / 2
    assert np.allclose(_copula(y * 100 + 7), warped)


@pytest.mark.parametrize("options", [{"pending": "optimist"}, {"warping": "log"}, {"prior_mean": "median"}])
def test_unknown_gp_options_are_refused(options):
    from include.local_sagemaker.strategies.gp import GPEISampler

    with pytest.raises(ValueError, match=next(iter(options))):
        GPEISampler(seed=1, **options)


def test_far_from_the_data_the_gp_expects_the_worst_value_seen_not_the_average():
    """The shipped prior mean (De Ath et al. 2020): where no job has been, the model predicts the worst value seen, so
    Expected Improvement there comes from the uncertainty alone; with prior_mean="mean" it predicts the values' mean.
    Near the data both fit the values, and the uncertainty does not depend on the mean."""
    import numpy as np
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern

    from include.local_sagemaker.strategies.gp import GPEISampler

    rng = np.random.RandomState(0)
    x = rng.uniform(size=(12, 3))
    y = np.sin(6 * x[:, 0]) + x[:, 1]
    kernel = ConstantKernel(1.0, "fixed") * Matern(0.3, "fixed", nu=2.5)
    fitted = {
        mean: GPEISampler(prior_mean=mean)._regressor(kernel=kernel, optimizer=None, normalize_y=True).fit(x, y)
        for mean in ("worst", "mean")
    }
    far = np.full((1, 3), 5.0)
    (worst, worst_sd), (average, average_sd) = (fitted[m].predict(far, return_std=True) for m in ("worst", "mean"))
    assert worst[0] == pytest.approx(y.min()) and average[0] == pytest.approx(y.mean())
    assert worst_sd[0] == pytest.approx(average_sd[0]) == pytest.approx(y.std())
    for gp in fitted.values():
        assert np.allclose(gp.predict(x), y, atol=1e-6)


def test_a_gp_variant_proposes_inside_the_space_and_differs_from_the_default():
    """The suite's variants are real samplers: same seed and history, another model, another suggestion."""
    import numpy as np
    import optuna

    from include.local_sagemaker.strategies.gp import GPEISampler

    def run(**options):
        study = optuna.create_study(direction="maximize", sampler=GPEISampler(seed=3, **options))
        space = {"x": optuna.distributions.FloatDistribution(0, 1), "y": optuna.distributions.FloatDistribution(0, 1)}
        for _ in range(9):
            trial = study.ask(space)
            x, y = trial.params["x"], trial.params["y"]
            study.tell(trial, -((x - 0.3) ** 2) - (y - 0.7) ** 2 - (5.0 if x > 0.9 else 0.0))
        return [(t.params["x"], t.params["y"]) for t in study.trials]

    default, copula = run(), run(warping="copula", noise_bounds=(1e-6, 1.0))
    assert default[:5] == copula[:5]  # the seeded start-up points
    assert default[5:] != copula[5:]
    assert all(0 <= v <= 1 for point in copula for v in point)
    assert np.isfinite(np.array(copula)).all()


def test_the_length_scale_prior_keeps_a_few_points_from_making_dimensions_wiggly():
    """A suite variant, with the prior mean it was measured with (the values' mean): on 7 points of a smooth 6-d bowl,
    maximum likelihood shrinks some length scales towards the lower bound (a dimension that looks wiggly on noise)
    and pins others at the upper one; the prior's MAP fit stays in between, as its median (≈ 10 in 6-d) pulls."""
    import numpy as np

    from include.local_sagemaker.strategies.gp import GPEISampler

    rng = np.random.RandomState(0)
    x = rng.uniform(size=(7, 6))
    y = -((x - 0.3) ** 2).sum(axis=1) + rng.normal(0, 0.01, 7)
    plain = GPEISampler(seed=1, length_scale_prior="none", prior_mean="mean")._fit(x, y).kernel_.k1.k2.length_scale
    prior = (
        GPEISampler(seed=1, length_scale_prior="dim-scaled", prior_mean="mean")._fit(x, y).kernel_.k1.k2.length_scale
    )
    assert min(plain) < 0.3 < 0.5 < min(prior)
    assert max(prior) < 20.0  # not at the bound


def test_optunas_length_scale_penalty_pulls_towards_one_from_both_sides():
    """The shipped prior (Optuna GPSampler's 0.1 / u + 0.1 * u on u = 1 / l^2): on the same 7 points no length scale
    is driven towards the lower bound or pinned at the upper one, as maximum likelihood does, with either prior mean
    (the worst value seen, shipped; the values' mean)."""
    import numpy as np

    from include.local_sagemaker.strategies.gp import GPEISampler

    rng = np.random.RandomState(0)
    x = rng.uniform(size=(7, 6))
    y = -((x - 0.3) ** 2).sum(axis=1) + rng.normal(0, 0.01, 7)
    plain = GPEISampler(seed=1, length_scale_prior="none")._fit(x, y).kernel_.k1.k2.length_scale
    prior = GPEISampler(seed=1)._fit(x, y).kernel_.k1.k2.length_scale
    assert max(plain) == pytest.approx(20.0) and 0.3 < min(prior) and max(prior) < 5.0  # ML: some at the bound
    plain = GPEISampler(seed=1, length_scale_prior="none", prior_mean="mean")._fit(x, y).kernel_.k1.k2.length_scale
    prior = GPEISampler(seed=1, prior_mean="mean")._fit(x, y).kernel_.k1.k2.length_scale
    assert min(plain) < 0.3 < min(prior) and max(prior) < 5.0 < max(plain)
    with pytest.raises(ValueError, match="length_scale_prior must be none, dim-scaled or optuna"):
        GPEISampler(length_scale_prior="gamma")


def test_isotropic_until_shares_one_length_scale_below_that_many_points():
    import numpy as np

    from include.local_sagemaker.strategies.gp import GPEISampler

    rng = np.random.RandomState(0)
    x, y = rng.uniform(size=(12, 4)), rng.normal(size=12)
    sampler = GPEISampler(seed=1, isotropic_until=10)
    assert np.ndim(sampler._fit(x[:9], y[:9]).kernel_.k1.k2.length_scale) == 0
    assert np.shape(sampler._fit(x, y).kernel_.k1.k2.length_scale) == (4,)


def ignored_third_dimension() -> tuple[Any, Any, Any]:
    """15 points of a bowl in the first two of three dimensions (the third changes nothing), and their order."""
    import numpy as np

    x = np.random.RandomState(0).uniform(size=(15, 3))
    return x, -((x[:, :2] - 0.3) ** 2).sum(axis=1), np.arange(15)


def test_flat_from_sets_the_long_length_scales_to_the_bound_and_keeps_the_others():
    """A suite variant: the prior holds a dimension the objective ignores near l = 2-3; flat_from lets it go."""
    import numpy as np

    from include.local_sagemaker.strategies.gp import GPEISampler

    x, y, order = ignored_third_dimension()
    fitted = GPEISampler(seed=1)._model(x, y, order).kernel_.k1.k2.length_scale
    flat = GPEISampler(seed=1, flat_from=2.0)._model(x, y, order).kernel_.k1.k2.length_scale
    assert 2.0 <= fitted[2] < 10.0 and flat[2] == pytest.approx(20.0)
    np.testing.assert_allclose(flat[:2], fitted[:2])


def test_copy_from_keeps_the_incumbents_value_along_the_long_length_scales_and_searches_the_others():
    """A suite variant: along a dimension the fitted model finds nearly flat, every candidate takes the incumbent's
    value, so EI cannot buy variance there; the model and the other dimensions are searched as before."""
    import numpy as np
    import optuna

    from include.local_sagemaker.strategies.gp import GPEISampler, _Encoding

    x, y, order = ignored_third_dimension()
    encoding = _Encoding({f"x{i}": optuna.distributions.FloatDistribution(0.0, 1.0) for i in range(3)})
    none = np.empty((0, 3))
    incumbent = x[np.argmax(y)]

    copied = GPEISampler(seed=1, copy_from=2.0)._propose(encoding, x, y, none, own=15, order=order)
    free = GPEISampler(seed=1)._propose(encoding, x, y, none, own=15, order=order)
    assert copied[2] == incumbent[2] and free[2] != incumbent[2]
    assert not np.allclose(copied[:2], incumbent[:2])  # the dimensions that matter are still searched


def test_a_running_job_is_shown_at_the_models_prediction_and_the_next_point_goes_elsewhere():
    """The kriging believer (the default): the model is refitted with the running job at its own predicted value,
    so its mean is unchanged there and its uncertainty collapses; the next proposal is another point. The constant
    liar (the previous default) shows it at the worst value seen instead, which lowers the mean around it."""
    import numpy as np
    import optuna

    from include.local_sagemaker.strategies.gp import GPEISampler, _Encoding

    space = {n: optuna.distributions.FloatDistribution(0, 1) for n in ("x", "y")}
    encoding = _Encoding(space)
    rng = np.random.RandomState(0)
    x = rng.uniform(size=(8, 2))
    y = -((x - [0.3, 0.7]) ** 2).sum(axis=1)
    sampler = GPEISampler(seed=1)
    assert sampler.pending == "believer"
    first = sampler._propose(encoding, x, y, np.empty((0, 2)), own=8, order=np.arange(8))
    second = sampler._propose(encoding, x, y, first[None, :], own=8, order=np.arange(8))
    assert np.abs(second - first).max() > 0.01
    gp = sampler._fit(x, y)
    believed = sampler._fit(np.vstack([x, first]), np.append(y, gp.predict(first[None, :])), kernel=gp.kernel_)
    lied = sampler._fit(np.vstack([x, first]), np.append(y, y.min()), kernel=gp.kernel_)
    mean, sd = gp.predict(first[None, :], return_std=True)
    mean_b, sd_b = believed.predict(first[None, :], return_std=True)
    assert mean_b[0] == pytest.approx(mean[0], abs=1e-3) and sd_b[0] < sd[0] / 3
    assert lied.predict(first[None, :])[0] < mean[0] - 0.01

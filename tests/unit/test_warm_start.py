"""Warm start from the champion history (include/pipeline/warm_start.py), the run's held-out day from its asset
events, and the Params of hpo_on_new_data: pure functions."""

from __future__ import annotations

import copy
import dataclasses
import datetime
import types
from typing import Any

import pytest

from include.pipeline.params import ON_NEW_DATA, ParamError, RunParams, defaults
from include.pipeline.plan import asset_event_dates, holdout_day
from include.pipeline.tuning_config import tuning_request
from include.pipeline.warm_start import choose_parents, unusable
from tests.specs import FLIGHT, HOTEL, XGBOOST_IMAGE, definition_for

IMAGE = XGBOOST_IMAGE


def request(name: str = "hpo-child", spec: Any = FLIGHT, **params: Any) -> dict[str, Any]:
    run = RunParams.from_params({**defaults(spec), **params}, spec)
    return tuning_request(spec, name, run, definition_for(spec, run))


def described(name: str, status: str = "Completed", **params: Any) -> dict[str, Any]:
    """A DescribeHyperParameterTuningJob answer for a job created from `request(name, **params)`."""
    return {**request(name, **params), "HyperParameterTuningJobStatus": status}


def record(job: str, at: str, **fields: Any) -> dict[str, Any]:
    return {"tuning_job_name": job, "evaluated_at": at, "holdout_date": at[:10], "deployed": False, **fields}


# --------------------------------------------------------------------------------------------- parents
def test_parents_are_the_champion_then_the_newest_usable_runs_at_most_five():
    history = [record(f"hpo-{i}", f"2013-01-{10 + i:02d}T00:00:00") for i in range(8)]
    history[2]["deployed"] = True  # the model serving now came from hpo-2
    jobs = {f"hpo-{i}": described(f"hpo-{i}") for i in range(8)}
    jobs["hpo-6"] = described("hpo-6", status="InProgress")
    jobs["hpo-5"] = described("hpo-5", strategy="Grid", max_parallel_jobs=1)
    del jobs["hpo-4"]
    parents, warnings = choose_parents(history, jobs.get, request())
    assert parents == ["hpo-2", "hpo-7", "hpo-3", "hpo-1", "hpo-0"]
    assert warnings[0] == "skipped parent hpo-6: it is InProgress, not finished"
    assert warnings[1].startswith("skipped parent hpo-5: it has hyperparameters [")  # Grid tunes 2, not 5
    assert warnings[2] == "skipped parent hpo-4: it no longer exists"


def test_the_runs_own_tuning_job_is_never_its_parent():
    history = [record("hpo-child", "2013-01-12T00:00:00", deployed=True), record("hpo-old", "2013-01-11T00:00:00")]
    jobs = {name: described(name) for name in ("hpo-child", "hpo-old")}
    assert choose_parents(history, jobs.get, request("hpo-child")) == (["hpo-old"], [])


def test_without_usable_parents_the_retune_runs_cold():
    assert choose_parents([], {}.get, request()) == ([], [])
    gone = [record("hpo-gone", "2013-01-10T00:00:00", deployed=True)]
    assert choose_parents(gone, {}.get, request()) == ([], ["skipped parent hpo-gone: it no longer exists"])
    cold = request(warm_start="auto")
    assert "WarmStartConfig" not in cold  # "auto" with nothing found: a plain tuning job


def _changed(change) -> dict[str, Any]:
    parent = copy.deepcopy(described("hpo-parent"))
    change(parent)
    return parent


@pytest.mark.parametrize(
    "change, reason",
    [
        (
            lambda p: p["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"].update(
                MetricName="validation:logloss", Type="Minimize"
            ),
            "optimised Minimize validation:logloss, not Maximize validation:auc",
        ),
        (
            lambda p: p["TrainingJobDefinition"]["StaticHyperParameters"].update(gamma="1"),
            "has hyperparameters [",
        ),
        (
            lambda p: p["HyperParameterTuningJobConfig"]["ParameterRanges"].update(
                IntegerParameterRanges=[],
                CategoricalParameterRanges=[{"Name": "max_depth", "Values": ["3", "6"]}],
            ),
            "tunes max_depth as Categorical, this run as Integer",
        ),
        (
            lambda p: p["TrainingJobDefinition"]["AlgorithmSpecification"].update(TrainingImage="other/image:1"),
            f"trained image other/image, this run {IMAGE.rsplit(':', 1)[0]}",
        ),
    ],
    ids=["objective", "hyperparameter names", "range type", "image"],
)
def test_a_parent_a_transfer_learning_child_could_not_name_is_skipped_with_the_reason(change, reason):
    assert reason in unusable(_changed(change), request())


def test_a_new_image_version_and_other_static_values_still_make_a_parent():
    def newer(parent: dict[str, Any]) -> None:
        parent["TrainingJobDefinition"]["AlgorithmSpecification"]["TrainingImage"] = IMAGE.replace("1.7-1", "1.5-1")
        parent["TrainingJobDefinition"]["StaticHyperParameters"]["num_round"] = "500"
        parent["TrainingJobDefinition"]["StaticHyperParameters"]["_tuning_objective_metric"] = "validation:auc"

    assert unusable(_changed(newer), request()) is None


# --------------------------------------------------------------------------------------------- asset events
def _events(*extras: dict[str, Any]) -> dict[str, list[Any]]:
    return {"raw_flights": [types.SimpleNamespace(extra=extra) for extra in extras]}


def test_the_newest_landed_date_is_held_out_unless_the_param_names_one():
    dates = asset_event_dates(_events({"date": "2013-03-02"}, {"date": "2013-03-04"}, {}, {"rows": 3}))
    assert dates == ["2013-03-02", "2013-03-04"]
    assert holdout_day(None, None, dates)[0] == datetime.date(2013, 3, 4)
    assert holdout_day(datetime.date(2013, 3, 1), None, dates)[0] == datetime.date(2013, 3, 1)
    assert asset_event_dates(None) == [] and asset_event_dates({}) == []


def test_asset_events_about_another_bucket_are_left_out():
    events = _events({"date": "2013-03-05", "bucket": "hpo-demo"}, {"date": "2013-01-16", "bucket": "ours"})
    assert asset_event_dates(events, "ours") == ["2013-01-16"]
    assert asset_event_dates(_events({"date": "2013-01-17"}), "ours") == ["2013-01-17"]  # no bucket: counts


def test_an_asset_event_date_that_is_not_a_date_is_named():
    with pytest.raises(ParamError, match=r"asset events carry dates that are not dates: \['yesterday'\]"):
        holdout_day(None, None, ["yesterday"])


# --------------------------------------------------------------------------------------------- Params
def test_warm_start_auto_finds_its_own_parents():
    auto = RunParams.from_params(defaults(FLIGHT, ON_NEW_DATA), FLIGHT)
    assert auto.warm_start == "auto" and not auto.parent_tuning_jobs
    with pytest.raises(ParamError, match="Param parent_tuning_jobs must be empty with warm_start=auto"):
        RunParams.from_params({**defaults(FLIGHT, ON_NEW_DATA), "parent_tuning_jobs": ["hpo-a"]}, FLIGHT)
    found = dataclasses.replace(auto, parent_tuning_jobs=("hpo-a",))
    warm = tuning_request(FLIGHT, "hpo-c", found, definition_for(FLIGHT, found))
    assert warm["WarmStartConfig"] == {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "hpo-a"}],
        "WarmStartType": "TransferLearning",
    }


def test_the_retune_takes_the_specs_on_new_data_defaults_over_its_nightly_ones():
    nightly, retune = defaults(FLIGHT), defaults(FLIGHT, ON_NEW_DATA)
    assert (nightly["max_jobs"], nightly["validation_days"], nightly["warm_start"]) == (20, 1, "none")
    assert (retune["max_jobs"], retune["validation_days"], retune["warm_start"]) == (10, 7, "auto")
    assert defaults(HOTEL, ON_NEW_DATA)["max_jobs"] == 6 and defaults(HOTEL, ON_NEW_DATA)["holdout_days"] == 7


def test_two_models_never_see_each_others_parents():
    """A hotel run's parents come from the hotel history; a flight job could not be one anyway."""
    flight_parent = {**request("hpo-flight"), "HyperParameterTuningJobStatus": "Completed"}
    assert "optimised Maximize validation:auc, not Minimize validation:rmse" in unusable(
        flight_parent, request("hotel-child", spec=HOTEL)
    )
    assert FLIGHT.history_prefix != HOTEL.history_prefix and not HOTEL.history_prefix.startswith(FLIGHT.history_prefix)

"""Fast tests of the pipeline's pure helpers: windows, run plans, source archives, spot checks, trigger budget.

The only stand-in is a tiny fake runtime client for `check_endpoint`, whose parsing and checks are what is
tested here (tests/integration/test_endpoints.py invokes real endpoints)."""

from __future__ import annotations

import datetime
import gzip
import io
import itertools
import tarfile
from pathlib import Path
from typing import Any

import pytest

from include.pipeline.deploy import SmokeTestError, check_endpoint
from include.pipeline.naming import NAME_PATTERN, RESOURCE_MAX, TUNING_JOB_MAX
from include.pipeline.params import ParamError
from include.pipeline.plan import deploy_decision, holdout_day, plan_names
from include.pipeline.prepare import Window, source_archive
from include.pipeline.spot import spot_definition, spot_settings_problems
from tests.specs import FLIGHT

ROOT = Path(__file__).resolve().parents[2]
DAY = datetime.date(2013, 3, 5)


# --------------------------------------------------------------------------------------------- Window.ending


def test_window_trains_strictly_before_validation_and_holdout():
    window = Window.ending(DAY, 3)
    assert window.train_days == (datetime.date(2013, 3, 1), datetime.date(2013, 3, 2), datetime.date(2013, 3, 3))
    assert window.validation_day == datetime.date(2013, 3, 4)  # D-1
    assert window.holdout_day == DAY and window.holdout_days == (DAY,)  # D, never trained or validated on
    assert window.days == (*window.train_days, window.validation_day, window.holdout_day)


def test_a_held_out_window_ends_at_the_day_and_comes_after_validation():
    window = Window.ending(DAY, 2, validation_days=2, holdout_days=3)
    assert window.holdout_days == (datetime.date(2013, 3, 3), datetime.date(2013, 3, 4), DAY)
    assert window.validation_days == (datetime.date(2013, 3, 1), datetime.date(2013, 3, 2))
    assert window.train_days == (datetime.date(2013, 2, 27), datetime.date(2013, 2, 28))
    assert len(set(window.days)) == 7


@pytest.mark.parametrize("training_days", [1, 14, 60])
def test_window_has_as_many_consecutive_training_days_as_asked(training_days):
    window = Window.ending(DAY, training_days)
    assert len(window.train_days) == training_days
    assert len(set(window.days)) == training_days + 2
    steps = {(b - a).days for a, b in itertools.pairwise(window.days)}
    assert steps == {1}  # consecutive and in time order, so every training day is before validation
    assert window.train_days[-1] == DAY - datetime.timedelta(days=2)


def test_window_validates_on_the_days_just_before_the_holdout_and_trains_before_them():
    window = Window.ending(DAY, 2, validation_days=3)
    assert window.validation_days == (datetime.date(2013, 3, 2), datetime.date(2013, 3, 3), datetime.date(2013, 3, 4))
    assert window.validation_day == datetime.date(2013, 3, 4)
    assert window.train_days == (datetime.date(2013, 2, 28), datetime.date(2013, 3, 1))
    assert window.days == (*window.train_days, *window.validation_days, DAY)


def test_window_across_a_year_boundary():
    window = Window.ending(datetime.date(2013, 1, 2), 2)
    assert window.train_days == (datetime.date(2012, 12, 30), datetime.date(2012, 12, 31))
    assert window.validation_day == datetime.date(2013, 1, 1)


# --------------------------------------------------------------------------------------------- source_archive


def test_source_archive_is_the_same_bytes_twice_with_train_py_at_the_top():
    first, second = (
        source_archive(ROOT / "training_scripts" / "flight_delay"),
        source_archive(ROOT / "training_scripts" / "flight_delay"),
    )
    assert first == second
    with tarfile.open(fileobj=io.BytesIO(first), mode="r:gz") as tar:
        names = tar.getnames()
        assert "train.py" in names  # at the top, as script mode's sagemaker_program expects
        assert all("/" not in n and not n.startswith(".") for n in names)
        assert {m.mtime for m in tar.getmembers()} == {0}
        assert (
            tar.extractfile("train.py").read() == (ROOT / "training_scripts" / "flight_delay" / "train.py").read_bytes()
        )


def test_source_archive_does_not_depend_on_the_clock(monkeypatch):
    clock = itertools.count(1_700_000_000, 60)
    monkeypatch.setattr(gzip.time, "time", lambda: float(next(clock)))  # a minute passes between the two builds
    assert source_archive(ROOT / "training_scripts" / "flight_delay") == source_archive(
        ROOT / "training_scripts" / "flight_delay"
    )


def test_source_archive_of_a_directory_without_python_files_fails(tmp_path):
    (tmp_path / "README.md").write_text("no code here\n")
    with pytest.raises(FileNotFoundError, match="no Python files in training code directory"):
        source_archive(tmp_path)


# --------------------------------------------------------------------------------------------- holdout_day


def test_the_holdout_date_param_wins_over_the_logical_date():
    logical = datetime.datetime(2013, 6, 1, tzinfo=datetime.UTC)
    assert holdout_day(datetime.date(2013, 2, 27), logical) == (datetime.date(2013, 2, 27), "the holdout_date Param")


def test_without_the_param_the_logical_date_is_the_holdout_day():
    day, why = holdout_day(None, datetime.datetime(2013, 6, 1, 23, 30, tzinfo=datetime.UTC), run_type="scheduled")
    assert day == datetime.date(2013, 6, 1) and why == "the run's logical date"


def test_a_manual_run_holds_out_the_newest_landed_day_up_to_its_logical_date():
    landed = [datetime.date(2013, 2, 26), datetime.date(2013, 2, 27), datetime.date(2013, 3, 9)]
    # Triggered from the UI today, with the defaults: the data ends years ago, so the newest landed day it is.
    today = datetime.datetime(2026, 12, 4, tzinfo=datetime.UTC)
    assert holdout_day(None, today, run_type="manual", landed=lambda: landed)[0] == datetime.date(2013, 3, 9)
    logical = datetime.datetime(2013, 3, 1, tzinfo=datetime.UTC)
    day, why = holdout_day(None, logical, run_type="manual", landed=lambda: landed)
    assert day == datetime.date(2013, 2, 27) and why == "the newest landed partition up to the logical date"
    # A scheduled run or a backfill means its logical date, landed or not (a missing day fails prepare, named).
    assert holdout_day(None, logical, run_type="backfill", landed=lambda: landed)[0] == datetime.date(2013, 3, 1)


def test_a_manual_run_with_no_landed_data_says_what_to_set():
    with pytest.raises(
        ParamError, match="no partition has landed up to 2013-03-01: land data first or set holdout_date"
    ):
        holdout_day(None, datetime.datetime(2013, 3, 1, tzinfo=datetime.UTC), run_type="manual", landed=list)


def test_neither_param_nor_logical_date_names_the_param():
    with pytest.raises(ParamError, match="Param holdout_date is required for a run without a logical date"):
        holdout_day(None, None)


# --------------------------------------------------------------------------------------------- run names


def names(run_id: str = "manual__2026-11-23T10:00:00+00:00", spec: Any = FLIGHT) -> Any:
    return plan_names(spec, "hpo_nightly", run_id)


def test_run_names_fit_sagemaker_and_keep_the_flight_models_prefixes():
    planned = names()
    assert len(planned.tuning_job) <= TUNING_JOB_MAX and NAME_PATTERN.fullmatch(planned.tuning_job)
    assert planned.tuning_job.startswith("hpo-")  # what a deployment from before specs already has
    for name in (planned.model, planned.endpoint_config):
        assert len(name) <= RESOURCE_MAX and NAME_PATTERN.fullmatch(name)
    assert planned.run_prefix.startswith("runs/run-")


def test_run_names_are_the_same_for_a_retry_and_different_for_another_run_or_model():
    # A retry or clear of the same run must find its own jobs; another run must not reuse them.
    assert names() == names()
    other = names(run_id="manual__2026-11-23T10:00:01+00:00")
    hotel = FLIGHT.model_copy(update={"name": "hotel", "job_prefix": None, "storage_prefix": None})
    another_model = plan_names(hotel, "hotel_nightly", "manual__2026-11-23T10:00:00+00:00")
    for field in ("tuning_job", "run_prefix", "model", "endpoint_config"):
        assert getattr(other, field) != getattr(names(), field), field
        assert getattr(another_model, field) != getattr(names(), field), field
    assert another_model.run_prefix.startswith("models/hotel/runs/")


def test_a_backfill_run_is_not_live():
    from airflow.sdk.api.datamodels._generated import DagRunType

    from include.pipeline.plan import is_live

    assert is_live("backfill") is False and is_live("scheduled") is True
    # What a task really gets: the task SDK's enum, whose str() is "DagRunType.BACKFILL".
    assert is_live(DagRunType.BACKFILL) is False and is_live(DagRunType.MANUAL) is True


# --------------------------------------------------------------------------------------------- deploy_decision

CHALLENGER_WINS = {
    "winner": "challenger",
    "metric": "auc",
    "challenger_score": 0.71,
    "reason": "challenger auc 0.71 beats champion 0.70 by 0.01",
}
CHAMPION_STAYS = {"winner": "champion", "metric": "auc", "reason": "challenger auc 0.69 is below champion 0.70"}
ALWAYS = {"threshold": 0.5}


def evaluation(fields: dict[str, Any]) -> Any:
    """An Evaluation as evaluate would return it, with these fields."""
    from include.pipeline.champion import Evaluation

    base = dict.fromkeys(Evaluation.__dataclass_fields__) | {"challenger_score": 0.7, "margin": 0.0}
    return Evaluation.from_xcom({**base, **fields})


@pytest.mark.parametrize(
    ("record", "flags", "step", "why"),
    [
        (CHALLENGER_WINS, {"live": False, "deploy": True, "require_approval": False}, None, "a backfill run never"),
        (CHALLENGER_WINS, {"live": True, "deploy": False, "require_approval": False}, None, "deploy Param is off"),
        (CHAMPION_STAYS, {"live": True, "deploy": True, "require_approval": False}, None, "the champion stays: "),
        (CHALLENGER_WINS, {"live": True, "deploy": True, "require_approval": True}, "approve", "waiting for approval"),
        (CHALLENGER_WINS, {"live": True, "deploy": True, "require_approval": False}, "deploy", "beats champion"),
        (
            CHALLENGER_WINS,
            {"live": True, "deploy": True, "require_approval": False, "threshold": 0.75},
            None,
            "held-out auc 0.7100 is below smoke_threshold 0.75",
        ),
        (
            {**CHALLENGER_WINS, "metric": "rmse", "challenger_score": 31.5},
            {"live": True, "deploy": True, "require_approval": False, "threshold": 30},
            None,
            "held-out rmse 31.5000 is above smoke_threshold 30",
        ),
    ],
    ids=["backfill", "deploy-off", "champion-wins", "approval", "deploy", "below-floor", "rmse-above-ceiling"],
)
def test_deploy_decision(record, flags, step, why):
    chosen, reason = deploy_decision(evaluation(record), **{**ALWAYS, **flags})
    assert chosen == step
    assert why in reason


def test_a_backfill_never_deploys_even_a_winner_waiting_for_approval():
    assert (
        deploy_decision(evaluation(CHALLENGER_WINS), live=False, deploy=True, require_approval=True, threshold=0.5)[0]
        is None
    )


# --------------------------------------------------------------------------------------------- spot_settings_problems

SPOT_DEFINITION = spot_definition(
    {"StoppingCondition": {"MaxRuntimeInSeconds": 1800}},
    use_spot=True,
    checkpoint_uri="s3://units-bucket/checkpoints/hpo-0123456789ab",
)


def child(**changes: Any) -> dict[str, Any]:
    """A DescribeTrainingJob answer of a child that kept the definition's spot settings, then `changes`."""
    return {
        "TrainingJobName": "hpo-0123456789ab-001-1a2b3c4d",
        "EnableManagedSpotTraining": True,
        "CheckpointConfig": {"S3Uri": "s3://units-bucket/checkpoints/hpo-0123456789ab"},
        "StoppingCondition": {"MaxRuntimeInSeconds": 1800, "MaxWaitTimeInSeconds": 3600},
        **changes,
    }


def test_a_child_with_the_definitions_spot_settings_has_no_problems():
    assert SPOT_DEFINITION["StoppingCondition"]["MaxWaitTimeInSeconds"] == 3600
    assert spot_settings_problems(SPOT_DEFINITION, child()) == []


def test_a_per_job_checkpoint_prefix_under_the_definitions_is_accepted():
    nested = child(CheckpointConfig={"S3Uri": "s3://units-bucket/checkpoints/hpo-0123456789ab/job-001/"})
    assert spot_settings_problems(SPOT_DEFINITION, nested) == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"EnableManagedSpotTraining": False}, "EnableManagedSpotTraining is False, not True"),
        ({"EnableManagedSpotTraining": None}, "EnableManagedSpotTraining is None, not True"),
        (
            {"CheckpointConfig": {"S3Uri": "s3://units-bucket/elsewhere"}},
            "CheckpointConfig.S3Uri is s3://units-bucket/",
        ),
        ({"CheckpointConfig": None}, "CheckpointConfig.S3Uri is missing"),
        (
            {"StoppingCondition": {"MaxRuntimeInSeconds": 1800, "MaxWaitTimeInSeconds": 1800}},
            "StoppingCondition.MaxWaitTimeInSeconds is 1800, not 3600",
        ),
    ],
    ids=["spot-false", "spot-missing", "checkpoint-elsewhere", "checkpoint-missing", "max-wait"],
)
def test_each_lost_setting_is_one_problem_naming_its_field(changes, field):
    problems = spot_settings_problems(SPOT_DEFINITION, child(**changes))
    assert len(problems) == 1 and field in problems[0], problems


def test_a_sibling_prefix_is_not_under_the_definitions_checkpoint():
    definition = spot_definition({}, use_spot=True, checkpoint_uri="s3://units-bucket/checkpoints/hpo-1")
    sibling = child(
        CheckpointConfig={"S3Uri": "s3://units-bucket/checkpoints/hpo-10"},
        StoppingCondition=definition["StoppingCondition"],
    )
    assert len(spot_settings_problems(definition, sibling)) == 1


def test_an_on_demand_definition_only_checks_the_spot_flag():
    on_demand = {"StoppingCondition": {"MaxRuntimeInSeconds": 1800}}
    assert spot_settings_problems(on_demand, {"StoppingCondition": {"MaxRuntimeInSeconds": 1800}}) == []
    assert len(spot_settings_problems(on_demand, {"EnableManagedSpotTraining": True})) == 1


# --------------------------------------------------------------------------------------------- waiter_max_attempts


def tuning_config(stopping: dict[str, int], jobs: int | None, parallel: int, **limits: int) -> dict[str, Any]:
    resource_limits = {"MaxParallelTrainingJobs": parallel, **limits}
    if jobs is not None:
        resource_limits["MaxNumberOfTrainingJobs"] = jobs
    return {
        "HyperParameterTuningJobConfig": {"Strategy": "Bayesian", "ResourceLimits": resource_limits},
        "TrainingJobDefinition": {"StoppingCondition": stopping},
    }


# Expected values by hand: longest run = rounds × per-job limit; attempts = ceil(1.1 × longest / interval) + 10.
# The intervals keep 1.1 × longest / interval off whole numbers, where float rounding could add one attempt.
@pytest.mark.parametrize(
    ("config", "interval", "attempts"),
    [
        # on-demand: MaxRuntime 300 s, 4 jobs 2 at a time = 2 rounds = 600 s; 660 / 40 = 16.5
        (tuning_config({"MaxRuntimeInSeconds": 300}, 4, 2), 40, 17 + 10),
        # one job more needs a third round: 900 s; 990 / 40 = 24.75
        (tuning_config({"MaxRuntimeInSeconds": 300}, 5, 2), 40, 25 + 10),
        # spot: MaxWait 700 s (it includes waiting for capacity) counts, not MaxRuntime: 3 × 700; 2310 / 40 = 57.75
        (tuning_config({"MaxRuntimeInSeconds": 300, "MaxWaitTimeInSeconds": 700}, 5, 2), 40, 58 + 10),
        # the tuning job's own MaxRuntimeInSeconds caps it: 1000 s; 1100 / 40 = 27.5
        (tuning_config({"MaxRuntimeInSeconds": 300}, 20, 2, MaxRuntimeInSeconds=1000), 40, 28 + 10),
        # a cap above the longest run changes nothing
        (tuning_config({"MaxRuntimeInSeconds": 300}, 4, 2, MaxRuntimeInSeconds=86400), 40, 17 + 10),
        # Grid without MaxNumberOfTrainingJobs: up to 500 combinations, 50 rounds × 300 s; 16500 / 70 = 235.7
        (tuning_config({"MaxRuntimeInSeconds": 300}, None, 10), 70, 236 + 10),
        # no StoppingCondition: SageMaker's default MaxRuntime of 1 day, 1 round; 95040 / 50 = 1900.8
        (tuning_config({}, 1, 1), 50, 1901 + 10),
    ],
    ids=["on-demand", "rounds-up", "spot-max-wait", "capped", "cap-above", "grid-unlimited", "default-runtime"],
)
def test_waiter_max_attempts(config, interval, attempts):
    from hpo_sagemaker.operators.tuning import waiter_max_attempts

    assert waiter_max_attempts(config, interval) == attempts


def test_waiter_max_attempts_reads_training_job_definitions_too():
    from hpo_sagemaker.operators.tuning import waiter_max_attempts

    config = tuning_config({"MaxRuntimeInSeconds": 300}, 4, 2)
    definition = config.pop("TrainingJobDefinition")
    assert waiter_max_attempts({**config, "TrainingJobDefinitions": [definition]}, 40) == 27


# --------------------------------------------------------------------------------------------- check_endpoint


class FakeRuntime:
    """Answers invoke_endpoint with a fixed body and keeps the request: enough to test the parsing and checks."""

    def __init__(self, body: str) -> None:
        self.body = body.encode()
        self.requests: list[dict[str, Any]] = []

    def invoke_endpoint(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        return {"Body": io.BytesIO(self.body), "ContentType": "text/csv"}


LABELS = [0, 1, 0, 1, 1]
GOOD = "0.1\n0.8\n0.3\n0.7\n0.9\n"  # ranks every delayed flight above every on-time one: AUC 1.0


def test_a_sensible_endpoint_passes_and_is_scored():
    runtime = FakeRuntime(GOOD)
    scored = check_endpoint(runtime, "flight-delay", "1,2\n3,4\n", LABELS, "auc", 0.5, expected=1.0)
    assert scored["auc"] == scored["score"] == 1.0 and scored["rows"] == 5 and scored["positives"] == 3
    assert runtime.requests == [
        {"EndpointName": "flight-delay", "ContentType": "text/csv", "Accept": "text/csv", "Body": "1,2\n3,4\n"}
    ]


def test_one_comma_separated_line_is_read_as_well():
    assert check_endpoint(FakeRuntime("0.1,0.8,0.3,0.7,0.9"), "e", "", LABELS, "auc", 0.5)["auc"] == 1.0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("0.1\n0.8\n0.3\n", "returned 3 predictions for 5 rows"),
        ("0.1\n0.8\n0.3\n0.7\n0.9\n0.5\n", "returned 6 predictions for 5 rows"),
        ('{"predictions": [0.1]}', "answered something other than numbers"),
        ("0.1\n0.8\nerror\n0.7\n0.9\n", "answered something other than numbers"),
        ("0.1\n1.8\n0.3\n0.7\n0.9\n", r": 1 predictions are not probabilities, e.g. 1.8"),
        ("-0.1\n0.8\n0.3\n0.7\n0.9\n", r": 1 predictions are not probabilities, e.g. -0.1"),
        ("0.1\nnan\n0.3\n0.7\n0.9\n", r": 1 predictions are not probabilities, e.g. nan"),
        ("0.9\n0.2\n0.7\n0.3\n0.1\n", "scores auc 0.0000 on held-out rows, below 0.5"),
    ],
    ids=["too-few", "too-many", "json", "non-numeric", "above-1", "below-0", "nan", "auc-below-floor"],
)
def test_an_endpoint_answering_wrongly_fails_the_smoke_test(body, message):
    with pytest.raises(SmokeTestError, match=f"endpoint flight-delay ?{message}"):
        check_endpoint(FakeRuntime(body), "flight-delay", "", LABELS, "auc", 0.5)


def test_an_auc_other_than_the_evaluated_models_means_another_model_is_served():
    with pytest.raises(SmokeTestError, match="scores auc 1.0000 where the evaluated model scored 0.7300"):
        check_endpoint(FakeRuntime(GOOD), "flight-delay", "", LABELS, "auc", 0.5, expected=0.73)
    # Within 1e-3 of the offline AUC is the same model (float formatting on the wire).
    assert check_endpoint(FakeRuntime(GOOD), "flight-delay", "", LABELS, "auc", 0.5, expected=0.9995)["auc"] == 1


def test_a_regression_endpoint_is_held_to_a_ceiling_on_its_error():
    labels = [100.0, 120.0, 80.0]
    scored = check_endpoint(FakeRuntime("101\n118\n83\n"), "hotel", "", labels, "rmse", 5.0, expected=2.1602)
    assert scored["rmse"] == pytest.approx((14 / 3) ** 0.5)
    with pytest.raises(SmokeTestError, match="scores rmse 2.1602 on held-out rows, above 2.0"):
        check_endpoint(FakeRuntime("101\n118\n83\n"), "hotel", "", labels, "rmse", 2.0)
    with pytest.raises(SmokeTestError, match="1 predictions are not numbers, e.g. inf"):
        check_endpoint(FakeRuntime("101\ninf\n83\n"), "hotel", "", labels, "rmse", 5.0)


def test_waiter_max_attempts_covers_the_longest_of_several_definitions():
    from hpo_sagemaker.operators.tuning import waiter_max_attempts

    config = tuning_config({"MaxRuntimeInSeconds": 300}, 4, 2)
    short = config.pop("TrainingJobDefinition")
    long = {"StoppingCondition": {"MaxRuntimeInSeconds": 900}}
    # 2 rounds of the longer definition's 900 s: 1980 / 40 = 49.5
    assert waiter_max_attempts({**config, "TrainingJobDefinitions": [short, long]}, 40) == 50 + 10

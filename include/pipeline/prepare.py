"""The `prepare_data` step: a time-ordered window of daily partitions turned into SageMaker channels.

For holdout day D and a window of W days the model trains on D-W-1 .. D-2, validates on D-1 and never sees
D, which is kept for the champion/challenger comparison and the smoke test: strictly by time, no leakage.
Every partition is checked before anything is written, and a bad one fails naming its date and the problem.
"""

from __future__ import annotations

import datetime
import gzip
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .data import (
    CATEGORICAL_VOCABULARIES,
    DEFAULT_PREFIX,
    FEATURE_COLUMNS,
    LABEL_COLUMN,
    ROW_COLUMNS,
    WEATHER_COLUMNS,
    encode_features,
    partition_key,
)
from .s3uri import split_object_uri

if TYPE_CHECKING:
    import pandas as pd


class PartitionError(ValueError):
    """A daily partition is missing, empty or malformed; the message names the date and the problem."""


@dataclass(frozen=True)
class Window:
    """The days a run reads, oldest first: training days, then validation days, then the held-out day."""

    train_days: tuple[datetime.date, ...]
    validation_days: tuple[datetime.date, ...]
    holdout_day: datetime.date

    @classmethod
    def ending(cls, holdout_day: datetime.date, training_days: int, validation_days: int = 1) -> Window:
        first = holdout_day - datetime.timedelta(days=training_days + validation_days)
        days = tuple(first + datetime.timedelta(days=i) for i in range(training_days + validation_days))
        return cls(days[:training_days], days[training_days:], holdout_day)

    @property
    def validation_day(self) -> datetime.date:
        """The newest validation day (the day before the held-out one)."""
        return self.validation_days[-1]

    @property
    def days(self) -> tuple[datetime.date, ...]:
        return (*self.train_days, *self.validation_days, self.holdout_day)


def read_day(s3_client: Any, bucket: str, day: datetime.date, prefix: str = DEFAULT_PREFIX) -> pd.DataFrame:
    """One day's rows, checked: present, readable, non-empty, every column there, labels 0/1, right date.

    Every feature but the weather must also have a value on some row. Weather may be missing for a whole day
    (no gusts on a calm day, none at all on 2013-12-31, where the weather data ends): XGBoost handles that.
    """
    import pandas as pd
    from botocore.exceptions import ClientError

    key = partition_key(day, prefix)
    where = f"partition {day.isoformat()} (s3://{bucket}/{key})"
    try:
        body = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
            raise PartitionError(f"{where} is missing: run ingest_flights for {day.isoformat()} first") from None
        raise
    try:
        rows = pd.read_parquet(io.BytesIO(body), engine="pyarrow")
    except Exception as error:  # pyarrow raises several types for a corrupt file; all mean the same here
        raise PartitionError(f"{where} is not readable Parquet: {error}") from None
    if rows.empty:
        raise PartitionError(f"{where} has no rows")
    missing = [c for c in ROW_COLUMNS if c not in rows.columns]
    if missing:
        raise PartitionError(f"{where} lacks columns {missing}")
    labels = set(rows[LABEL_COLUMN].dropna().unique().tolist())
    if rows[LABEL_COLUMN].isna().any() or not labels <= {0, 1}:
        raise PartitionError(f"{where} has labels other than 0/1 in {LABEL_COLUMN!r}: {sorted(labels)[:5]}")
    dates = set(rows["date"].astype(str))
    if dates != {day.isoformat()}:
        raise PartitionError(f"{where} holds rows of other dates: {sorted(dates)[:3]}")
    numeric = [c for c in FEATURE_COLUMNS if c not in CATEGORICAL_VOCABULARIES]
    text = [c for c in numeric if pd.to_numeric(rows[c], errors="coerce").isna().sum() > rows[c].isna().sum()]
    if text:
        raise PartitionError(f"{where} has values that are not numbers in feature columns {text}")
    features = encode_features(rows)  # what the model sees: a category outside the vocabulary is NaN too
    blank = [c for c in FEATURE_COLUMNS if c not in WEATHER_COLUMNS and features[c].isna().all()]
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
        if p.is_file() and not p.is_symlink() and "__pycache__" not in p.parts
        and not any(part.startswith(".") for part in p.relative_to(source_dir).parts)
    )  # fmt: skip
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


def prepare(
    s3_client: Any,
    *,
    bucket: str,
    holdout_day: datetime.date,
    training_days: int,
    run_prefix: str,
    source_dir: Path,
    raw_prefix: str = DEFAULT_PREFIX,
    validation_days: int = 1,
) -> dict[str, Any]:
    """Write train/validation CSV channels, the held-out rows and the code archive under run_prefix.

    The validation channel holds the `validation_days` days before the held-out day: more days make the tuning
    objective less noisy (one day of flights is a few hundred rows), at the price of training on older data.
    """
    import pandas as pd

    from .data import to_training_csv

    window = Window.ending(holdout_day, training_days, validation_days)
    rows = {day: read_day(s3_client, bucket, day, raw_prefix) for day in window.days}  # all checked first
    train = pd.concat([rows[d] for d in window.train_days], ignore_index=True)
    if train[LABEL_COLUMN].nunique() < 2:
        raise PartitionError(f"training days {window.train_days[0]}..{window.train_days[-1]} have one class only")
    validation = pd.concat([rows[d] for d in window.validation_days], ignore_index=True)
    root = f"s3://{bucket}/{run_prefix}"
    objects = {
        f"{run_prefix}/train/train.csv": to_training_csv(train),
        f"{run_prefix}/validation/validation.csv": to_training_csv(validation),
        f"{run_prefix}/holdout/holdout.parquet": rows[window.holdout_day].to_parquet(index=False, engine="pyarrow"),
        f"{run_prefix}/code/sourcedir.tar.gz": source_archive(source_dir),
    }
    for key, body in objects.items():
        s3_client.put_object(Bucket=bucket, Key=key, Body=body)
    return {
        "channels": {"train": f"{root}/train/", "validation": f"{root}/validation/"},
        "holdout_uri": f"{root}/holdout/holdout.parquet",
        "code_uri": f"{root}/code/sourcedir.tar.gz",
        "train_days": [window.train_days[0].isoformat(), window.train_days[-1].isoformat()],
        "validation_day": window.validation_day.isoformat(),
        "validation_days": [window.validation_days[0].isoformat(), window.validation_days[-1].isoformat()],
        "holdout_date": holdout_day.isoformat(),
        "rows": {
            "train": len(train),
            "validation": len(validation),
            "holdout": len(rows[holdout_day]),
        },
    }


def read_holdout(s3_client: Any, holdout_uri: str) -> pd.DataFrame:
    import pandas as pd

    bucket, key = split_object_uri(holdout_uri)
    return pd.read_parquet(io.BytesIO(s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()))

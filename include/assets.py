"""Assets the DAGs share. Light on purpose (airflow.sdk only): every DAG file that schedules on them imports this."""

from __future__ import annotations

from airflow.sdk import Asset

# One day of flights landed at s3://<bucket>/raw/flights/date=YYYY-MM-DD/ by ingest_flights; each event's extra
# carries the "date" it landed, which hpo_on_new_data holds out.
RAW_FLIGHTS = Asset(name="raw_flights", uri="s3://hpo-demo/raw/flights")

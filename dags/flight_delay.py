"""Airflow DAGs of the flight-delay model (include/models/flight_delay.yaml): ingest_flights, hpo_nightly and
hpo_on_new_data."""

from pathlib import Path

from include.dag_factory import model_dags

model_dags(Path(__file__).parents[1] / "include" / "models" / "flight_delay.yaml")

"""Airflow DAGs of the hotel-rates model (include/models/hotel_rates.yaml): hotel_rates_ingest, hotel_rates_nightly
and hotel_rates_on_new_data."""

from pathlib import Path

from include.dag_factory import model_dags

model_dags(Path(__file__).parents[1] / "include" / "models" / "hotel_rates.yaml")

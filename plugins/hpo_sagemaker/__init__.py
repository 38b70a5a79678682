"""Airflow plugin package: operators for SageMaker hyperparameter tuning (loaded from the plugins folder)."""

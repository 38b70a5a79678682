"""Tests that need the real local SageMaker over HTTP, or real Airflow processes."""

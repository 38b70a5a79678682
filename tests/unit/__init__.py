"""In-process tests: no server, no Airflow scheduler; `make test-unit` runs them alone."""

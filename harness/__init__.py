"""Real processes for the tests and the benchmarks: the local SageMaker in a child process, Airflow's processes,
and the CeleryExecutor stack (PostgreSQL, Redis, workers). Neither tests nor product code: both the test suite
and benchmarks/ import it, and nothing in include/, plugins/ or dags/ may."""

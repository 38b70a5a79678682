"""Real processes for the tests and the benchmarks: the local SageMaker in a child process, Airflow's processes,
the CeleryExecutor stack (PostgreSQL, Redis, workers), and a tuning job driven by the service's own decision loop
with simulated jobs (tuning_simulation.py). Neither tests nor product code: both the test suite and benchmarks/
import it, and nothing in include/, plugins/ or dags/ may."""

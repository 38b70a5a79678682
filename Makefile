# Two commands matter: `make demo` and `make test`. Everything else is a building block of those.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
UV := $(PYTHON) -m uv
STATE_DIR ?= .local/sagemaker
PORT ?= 4566
ENDPOINT_URL := http://127.0.0.1:$(PORT)

.PHONY: install requirements test test-unit lint format demo local-sagemaker stop bench bench-requirements soak clean scale-test aws-check

install: $(VENV)/.installed $(VENV)/.plugins-on-path

$(VENV)/.installed: requirements.txt
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --disable-pip-version-check uv
	@test -x $(PY) || $(UV) venv --quiet --python $(PYTHON) $(VENV)
	$(UV) pip sync --quiet --python $(PY) --compile-bytecode requirements.txt
	@touch $@

# The venv sees plugins/ as Airflow does (on sys.path), so `lint-imports` and a plain `python` find hpo_sagemaker.
$(VENV)/.plugins-on-path: $(VENV)/.installed
	$(PY) -c 'import pathlib, sysconfig; pathlib.Path(sysconfig.get_path("purelib"), "hpo_sagemaker_plugins.pth").write_text(str(pathlib.Path("plugins").resolve()) + "\n")'
	@touch $@

requirements:
	$(UV) pip compile --quiet --python-version 3.11 --no-header requirements.in -o requirements.txt
	$(UV) pip compile --quiet --python-version 3.11 --no-header -c requirements.txt benchmarks/requirements.in -o benchmarks/requirements.txt

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache  # the layers in pyproject.toml
	$(VENV)/bin/mypy  # types: benchmarks, DAGs, plugins, include/ (pyproject.toml [tool.mypy])

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Three workers on two cores: most end-to-end tests wait on Airflow and job processes, so a third overlaps them
# (10:10-11:46 here; the suite and every process it starts use 15-19 CPU-minutes, so 8 min is the floor).
test: lint
	$(PY) -m pytest -n 3 --dist loadfile

# The inner loop: the in-process tests alone (no server, no Airflow processes), under a minute on two cores.
test-unit: install
	$(PY) -m pytest -n 2 tests/unit

# The CeleryExecutor test alone (part of `make test`): two workers, PostgreSQL and Redis on loopback ports. Needs
# `apt-get install -y redis-server postgresql`; skipped without them unless CI is set.
scale-test: install
	$(PY) -m pytest tests/scale

local-sagemaker: install
	@$(PY) -m include.local_sagemaker start --port $(PORT) --state-dir $(STATE_DIR)

# Without the venv nothing can be running: stop (and clean) work on a fresh checkout too.
stop:
	@if [ -x $(PY) ]; then $(PY) -m include.local_sagemaker stop --state-dir $(STATE_DIR); fi

demo: install local-sagemaker
	AWS_ENDPOINT_URL=$(ENDPOINT_URL) $(PY) -m include.demo
	@echo "The local SageMaker keeps running on $(ENDPOINT_URL) (state in $(STATE_DIR)); 'make stop' stops it."

# Packages only the benchmarks use (bayesian-optimization, what search_suite measures the strategy against), pinned
# against requirements.txt; installed on top of the venv, so `make test` and the service never need them.
bench-requirements: install
	$(UV) pip install --quiet --python $(PY) -r benchmarks/requirements.txt

bench: bench-requirements
	$(PY) -m benchmarks.overhead
	$(PY) -m benchmarks.shared_cores
	$(PY) -m benchmarks.s3_persistence
	$(PY) -m benchmarks.search_quality --seeds 10
	$(PY) -m benchmarks.search_suite --seeds 20  # 12 objectives x 7 arms x 20 seeds: about four hours on two cores (flights 1.5)
	$(PY) -m benchmarks.suite_noise --against Random,TPE,bayes-opt  # the suite's picks beyond the values it saw
	$(PY) -m benchmarks.overfit_rule --seeds 10
	$(PY) -m benchmarks.warm_start --starts 2013-03-01,2013-06-01,2013-09-01 --no-noise-floor  # the goal's 30 day-runs
	$(PY) -m benchmarks.surface_carryover
	$(PY) -m benchmarks.warm_start --validation-days 3 --output benchmarks/results/warm_start_validation_days_3.md
	$(PY) -m benchmarks.parse_time
	$(PY) -m benchmarks.reliability
	$(PY) -m benchmarks.scale
	$(PY) -m benchmarks.growth
	$(PY) -m benchmarks.backfill_year  # 334 daily runs: about two hours on two cores
	$(PY) -m benchmarks.promotion  # 1,002 in-process nightly runs: about an hour on two cores

# The reliability suite's long variant (more generated inputs, clients and seconds); figures to
# benchmarks/results/reliability.md.
soak: install
	$(PY) -m benchmarks.reliability --soak

# Before a first run on real SageMaker: read-only checks of the aws_default connection, bucket and role (docs/aws.md).
aws-check: install
	$(PY) -m include.aws_check

clean: stop
	rm -rf .local

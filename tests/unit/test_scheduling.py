"""The order in which make test's workers take the modules (tests/scheduling.py)."""

from __future__ import annotations

import re

from harness.local_sagemaker import ROOT
from tests.scheduling import AIRFLOW_STACKS, LONG, STACKS_AT_ONCE, next_module

UNIT, OTHER = "tests/unit/test_specs.py", "tests/integration/test_shapes.py"


def test_the_listed_modules_exist_and_the_stacks_are_every_module_that_starts_airflow_components():
    modules = {str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("test_*.py")}
    assert set(AIRFLOW_STACKS) | set(LONG) <= modules
    assert not set(AIRFLOW_STACKS) & set(LONG)
    # Modules that start a scheduler, api-server or workers (harness.airflow_processes.Airflow, harness.stack.Stack).
    starting = {m for m in modules if re.search(r"\b(Airflow|Stack)\(", (ROOT / m).read_text())}
    assert starting == set(AIRFLOW_STACKS)


def test_a_free_worker_takes_stacks_first_then_the_long_modules_then_the_rest_and_unit_tests_last():
    queued = [UNIT, OTHER, LONG[1], AIRFLOW_STACKS[1], LONG[0], AIRFLOW_STACKS[0]]
    order = []
    while queued:  # nothing running: each pick as if the previous one had finished
        order.append(next_module(queued, stacks_running=0))
        queued.remove(order[-1])
    assert order == [AIRFLOW_STACKS[0], AIRFLOW_STACKS[1], LONG[0], LONG[1], OTHER, UNIT]


def test_no_third_stack_starts_while_two_run_unless_only_stacks_are_left():
    queued = [UNIT, AIRFLOW_STACKS[2], LONG[3]]
    assert next_module(queued, stacks_running=STACKS_AT_ONCE - 1) == AIRFLOW_STACKS[2]
    assert next_module(queued, stacks_running=STACKS_AT_ONCE) == LONG[3]
    assert next_module([UNIT], stacks_running=STACKS_AT_ONCE) == UNIT
    # A worker given nothing would hold its last test forever: a stack it is, when nothing else is left.
    assert next_module([AIRFLOW_STACKS[2]], stacks_running=STACKS_AT_ONCE) == AIRFLOW_STACKS[2]

"""The order in which `make test`'s workers (pytest-xdist, `--dist loadfile`: a module at a time) take the modules.

xdist's own order is by number of tests, so the modules that take longest (a handful of tests that each run whole
DAGs) come last and the suite ends with one worker busy and two idle. On two cores the suite is bound by CPU and by
its longest chain, so the long modules go first, the short ones fill the gaps at the end, and at most two modules
that run Airflow's own components (scheduler, api-server, workers) run at once: a third side by side made every
poller in them wait, and spend CPU, longer (measured 2026-12-06: 11:15 against 9:10-9:47).

The lists hold each module's wall time in a `make test` run (2026-12-07, three workers on two cores). Stale figures
only cost speed: a module missing from them is scheduled after them, in xdist's order.
"""

from __future__ import annotations

from typing import Any

import pytest

# Modules that start Airflow components of their own, longest first; at most STACKS_AT_ONCE of them run at once.
AIRFLOW_STACKS = (
    "tests/integration/test_hpo_scheduled.py",  # 320 s
    "tests/scale/test_celery_workers.py",  # 260 s
    "tests/reliability/test_task_retry.py",  # 120 s
)
STACKS_AT_ONCE = 2
# Other modules of 30 s or more, longest first (they run DAGs with dag.test(), kill servers, train spot jobs).
LONG = (
    "tests/integration/test_restart_and_spot.py",  # 135 s
    "tests/integration/test_hpo_nightly.py",  # 110 s
    "tests/reliability/test_faults.py",  # 95 s
    "tests/integration/test_demo.py",  # 75 s
    "tests/integration/test_tuning.py",  # 70 s
    "tests/reliability/test_durability.py",  # 40 s
    "tests/integration/test_hotel_rates.py",  # 40 s
    "tests/integration/test_sdk_examples.py",  # 35 s
    "tests/integration/test_your_model.py",  # 35 s
    "tests/reliability/test_load.py",  # 30 s
)


def rank(module: str) -> tuple[int, int]:
    """Sort key of a module: stacks, then the long ones, then the rest (the in-process unit tests last)."""
    if module in AIRFLOW_STACKS:
        return 0, AIRFLOW_STACKS.index(module)
    if module in LONG:
        return 1, LONG.index(module)
    return (3 if module.startswith("tests/unit/") else 2), 0


def next_module(queued: list[str], stacks_running: int) -> str:
    """The module a free worker takes: the first by rank, passing over Airflow stacks while two run (unless only
    stacks are left: a worker that is given nothing holds its last test and the run never ends)."""
    ranked = sorted(queued, key=rank)
    allowed = [m for m in ranked if stacks_running < STACKS_AT_ONCE or m not in AIRFLOW_STACKS]
    return (allowed or ranked)[0]


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadfile":
        return None  # xdist's own scheduler for every other mode
    from xdist.scheduler import LoadFileScheduling

    class LongestFirst(LoadFileScheduling):
        def _assign_work_unit(self, node: Any) -> None:
            # Put the module this node should take at the head of the queue; xdist's own code then assigns it.
            running = sum(
                not all(tests.values())  # {test id: done} of a module given to a worker
                for assigned in self.assigned_work.values()
                for module, tests in assigned.items()
                if module in AIRFLOW_STACKS
            )
            self.workqueue.move_to_end(next_module(list(self.workqueue), running), last=False)
            super()._assign_work_unit(node)

    return LongestFirst(config, log)

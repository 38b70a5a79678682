"""Deterministic per-run names (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from include.pipeline.naming import NAME_PATTERN, job_name_for


@given(
    prefix=st.text(max_size=60),
    dag=st.text(max_size=40),
    run=st.text(max_size=80),
    task=st.text(max_size=40),
    max_length=st.integers(16, 63),
)
def test_names_are_valid_for_sagemaker_and_deterministic(prefix, dag, run, task, max_length):
    name = job_name_for(prefix, dag, run, task, max_length=max_length)
    assert NAME_PATTERN.fullmatch(name)
    assert len(name) <= max_length
    assert name == job_name_for(prefix, dag, run, task, max_length=max_length)


def test_a_different_run_or_task_gets_a_different_name():
    base = job_name_for("hpo", "hpo_nightly", "scheduled__2013-02-01T00:00:00+00:00", "tune")
    assert base.startswith("hpo-") and len(base) <= 32
    assert base != job_name_for("hpo", "hpo_nightly", "scheduled__2013-02-02T00:00:00+00:00", "tune")
    assert base != job_name_for("hpo", "hpo_nightly", "scheduled__2013-02-01T00:00:00+00:00", "deploy")
    assert base != job_name_for("hpo", "hpo_nightly", "manual__2013-02-01T00:00:00+00:00", "tune")
    # A field boundary cannot be shifted to collide: ("a", "bc") differs from ("ab", "c").
    assert job_name_for("x", "a", "bc", "t") != job_name_for("x", "ab", "c", "t")


def test_no_room_for_a_prefix_is_an_error():
    with pytest.raises(ValueError, match="max_length"):
        job_name_for("hpo", "d", "r", "t", max_length=12)

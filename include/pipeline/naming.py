"""Deterministic SageMaker names per DAG run, so a retried, cleared or backfilled task finds its own job.

A name is a short prefix plus a hash of (dag_id, run_id, task_id[, extra]). Not `{{ ds }}` (manual and
asset-triggered runs in Airflow 3 may have no logical date) and never a timestamp (a retry would make a new
job and pay twice). The result fits the limit of the resource: 32 characters for tuning jobs, 63 for
training jobs, models and endpoint configs, and matches `[a-zA-Z0-9](-*[a-zA-Z0-9])*`.
"""

from __future__ import annotations

import hashlib
import re

NAME_PATTERN = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9])*")
TUNING_JOB_MAX = 32
RESOURCE_MAX = 63
_HASH_CHARS = 12  # 48 bits: a collision needs ~16 million runs of the same prefix


def job_name_for(
    prefix: str, dag_id: str, run_id: str, task_id: str, *extra: str, max_length: int = TUNING_JOB_MAX
) -> str:
    """`<prefix>-<hash>`, at most max_length characters, valid for SageMaker."""
    digest = hashlib.sha256("\x1f".join((dag_id, run_id, task_id, *extra)).encode()).hexdigest()[:_HASH_CHARS]
    clean = re.sub(r"[^a-zA-Z0-9]+", "-", prefix).strip("-") or "job"
    room = max_length - len(digest) - 1
    if room < 1:
        raise ValueError(f"max_length {max_length} leaves no room for a prefix")
    name = f"{clean[:room].rstrip('-')}-{digest}"
    assert NAME_PATTERN.fullmatch(name) and len(name) <= max_length, name
    return name

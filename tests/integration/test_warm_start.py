"""find_parents against the local SageMaker: the history read from S3, the parents described by SageMaker."""

from __future__ import annotations

from typing import Any

from include.pipeline.params import RunParams, defaults
from include.pipeline.tuning_config import tuning_request
from tests.specs import FLIGHT, definition_for


def request(name: str = "hpo-child", spec: Any = FLIGHT, **params: Any) -> dict[str, Any]:
    run = RunParams.from_params({**defaults(spec), **params}, spec)
    return tuning_request(spec, name, run, definition_for(spec, run))


def record(job: str, at: str, **fields: Any) -> dict[str, Any]:
    return {"tuning_job_name": job, "evaluated_at": at, "holdout_date": at[:10], "deployed": False, **fields}


def test_find_parents_reads_the_history_in_s3_and_describes_with_sagemaker(sm, s3, bucket):
    from harness.local_sagemaker import unique
    from include.pipeline.champion import write_record
    from include.pipeline.warm_start import find_parents

    prefix = f"warm-start-units/{unique('history')}"
    write_record(s3, bucket, f"{prefix}/r1.json", record("hpo-never-existed", "2013-01-10T00:00:00"))
    parents, warnings = find_parents(s3, sm, bucket, prefix, request(unique("hpo-child")))
    assert (parents, warnings) == ([], ["skipped parent hpo-never-existed: it no longer exists"])

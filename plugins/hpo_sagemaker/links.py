"""Operator extra links: from a tuning task to the HTML report of its tuning job."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.providers.common.compat.sdk import BaseOperatorLink, XCom

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import TaskInstanceKey
    from airflow.sdk import BaseOperator

REPORT_URL_KEY = "report_url"


class TuningReportLink(BaseOperatorLink):
    """The report's URL, pushed to XCom by the tuning operator when it starts (presigned, so it opens as is)."""

    name = "Tuning report"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        return XCom.get_value(key=REPORT_URL_KEY, ti_key=ti_key) or ""

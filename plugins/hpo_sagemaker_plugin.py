"""Registers the project's operator extra links, so the UI can show them for serialized DAGs."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin
from hpo_sagemaker.links import TuningReportLink


class HpoSageMakerPlugin(AirflowPlugin):
    name = "hpo_sagemaker"
    operator_extra_links = [TuningReportLink()]

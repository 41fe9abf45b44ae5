"""Writes of the KPI engine. Split by concern; import from here."""

from .alerts import alert_delivery_send, alerts_raise
from .anomalies import anomalies_detect, anomalies_notice
from .config import KPIConfigError, kpi_definition_save, kpis_load_config
from .evaluate import kpi_status, kpis_evaluate
from .ingest import metrics_ingest
from .push import metrics_push

__all__ = [
    "KPIConfigError", "alert_delivery_send", "alerts_raise", "anomalies_detect", "anomalies_notice",
    "kpi_definition_save", "kpi_status", "kpis_evaluate", "kpis_load_config", "metrics_ingest", "metrics_push",
]

"""Keeping a finished simulator report for the dashboard."""

import io

from .models import SimulationReport


def simulation_report_save(*, report: dict, chart: bool = True) -> SimulationReport:
    from .simulator import report_chart  # noqa: PLC0415 - matplotlib only when a chart is drawn

    png = b""
    if chart:
        buffer = io.BytesIO()
        report_chart(report, buffer)
        png = buffer.getvalue()
    return SimulationReport.objects.create(scenario=report["scenario"], days=report["days"], seeds=report["seeds"],
                                           report=report, chart=png)

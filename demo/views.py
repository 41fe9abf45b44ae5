"""Finished simulator reports on the dashboard (staff): the policy table and the chart."""

from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpResponse
from django.shortcuts import render

from .models import SimulationReport


@staff_member_required
def simulations(request):
    reports = SimulationReport.objects.defer("report", "chart")[:50]
    return render(request, "demo/simulations.html", {"reports": reports})


@staff_member_required
def simulation(request, pk: int):
    report = SimulationReport.objects.defer("chart").filter(pk=pk).first()
    if report is None:
        raise Http404("No such simulation report.")
    return render(request, "demo/simulation.html", {"item": report, "report": report.report,
                                                     "has_chart": SimulationReport.objects.filter(pk=pk)
                                                     .exclude(chart=b"").exists()})


@staff_member_required
def simulation_chart(request, pk: int):
    chart = SimulationReport.objects.filter(pk=pk).values_list("chart", flat=True).first()
    if not chart:
        raise Http404("No chart for this report.")
    return HttpResponse(bytes(chart), content_type="image/png")

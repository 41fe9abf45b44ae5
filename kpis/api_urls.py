from django.urls import path

from . import api

urlpatterns = [
    path("kpis/", api.KPIListView.as_view(), name="kpi-list"),
    path("metrics/", api.MetricPushView.as_view(), name="metric-push"),
]

from django.urls import path

from . import views

app_name = "chimera_ai"

urlpatterns = [
    path("", views.AIPanelView.as_view(), name="panel"),
    path("routing/", views.RoutingPreferenceView.as_view(), name="routing"),
]

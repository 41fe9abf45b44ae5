from django.urls import path

from . import api

urlpatterns = [
    path("ai/generate", api.GenerateView.as_view(), name="ai-generate"),
]

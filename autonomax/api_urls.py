"""/api/v1/: each app contributes its own api_urls."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter()
router.register("companies", api.CompanyViewSet, basename="company")

urlpatterns = [
    *router.urls,
    path("", include("kpis.api_urls")),
    path("", include("chimera.ai.api_urls")),
    path("", include("chimera.commander.api_urls")),
    path("", include("commerce.api_urls")),
    path("", include("growth.api_urls")),
    path("", include("support.api_urls")),
    path("", include("customers.api_urls")),
]

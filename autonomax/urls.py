from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.static import serve
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import connection_views, health, team_views, views

admin.site.site_header = "AutonomaX Profit OS"
admin.site.site_title = "AutonomaX"
handler404 = views.page_not_found

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("", include("chimera.commander.urls")),
    path("company/switch/", views.company_switch, name="company-switch"),
    path("settings/team/", team_views.team, name="team"),
    path("settings/connections/", connection_views.connections, name="connections"),
    path("invite/<str:token>/", team_views.invitation, name="invitation-accept"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("autonomax.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("ai/", include("chimera.ai.urls")),
    path("kpis/", include("kpis.urls")),
    path("webhooks/", include("commerce.webhooks.urls")),
    path("webhooks/", include("support.urls")),
    path("webhooks/", include("growth.webhook_urls")),
    path("", include("commerce.urls")),
    path("", include("customers.urls")),
    path("", include("demo.urls")),
    path("", include("growth.urls")),
    path("", include("support.page_urls")),
]

if settings.DEBUG:
    urlpatterns.append(path("media/<path:path>", serve, {"document_root": settings.MEDIA_ROOT}))

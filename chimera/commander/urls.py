from django.urls import path

from . import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("missions/<int:pk>/", views.mission_page, name="mission"),
    path("portfolio/", views.portfolio_page, name="portfolio"),
    path("missions/<int:pk>/approve/", views.mission_decide, {"decision": "approve"}, name="cc-mission-approve"),
    path("missions/<int:pk>/reject/", views.mission_decide, {"decision": "reject"}, name="cc-mission-reject"),
    path("missions/<int:pk>/retry/", views.mission_decide, {"decision": "retry"}, name="cc-mission-retry"),
    path("command/switches/", views.company_switches, name="command-switches"),
    path("review/", views.review, name="weekly-review"),
    path("onboarding/", views.onboarding, name="onboarding"),
    path("u/<str:token>/", views.unsubscribe, name="unsubscribe"),
]

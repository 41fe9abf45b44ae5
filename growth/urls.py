from django.urls import path

from . import views

app_name = "growth"

urlpatterns = [
    path("f/<slug:company_slug>/lead/", views.lead_form, name="lead-form"),
    path("f/<slug:company_slug>/confirm/<str:token>/", views.lead_confirm_view, name="lead-confirm"),
    path("t/p/<str:token>.gif", views.track_page, name="track-page"),
    path("t/o/<str:token>.gif", views.track_open, name="track-open"),
    path("t/c/<str:token>/", views.track_click, name="track-click"),
    path("f/unsubscribe/<str:token>/", views.one_click_unsubscribe, name="one-click-unsubscribe"),
    path("leads/", views.leads_page, name="leads"),
    path("leads/<int:pk>/", views.lead_page, name="lead"),
    path("leads/sequences/", views.sequences_page, name="sequences"),
    path("leads/experiments/", views.experiments_page, name="experiments"),
    path("leads/campaigns/", views.campaigns_page, name="campaigns"),
]

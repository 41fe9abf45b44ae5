from django.urls import path

from . import views

app_name = "kpis"

urlpatterns = [
    path("", views.board, name="board"),
    path("<slug:key>/", views.detail, name="detail"),
]

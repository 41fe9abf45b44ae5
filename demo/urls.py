from django.urls import path

from . import views

app_name = "demo"
urlpatterns = [
    path("simulations/", views.simulations, name="simulations"),
    path("simulations/<int:pk>/", views.simulation, name="simulation"),
    path("simulations/<int:pk>/chart.png", views.simulation_chart, name="simulation-chart"),
]

from django.urls import path

from . import views

app_name = "support"

urlpatterns = [
    path("f/<slug:slug>/contact/", views.contact, name="contact"),
]

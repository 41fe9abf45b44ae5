from django.urls import path

from .views import CustomerStoryView

urlpatterns = [
    path("customers/<int:pk>/", CustomerStoryView.as_view(), name="customer-story"),
]

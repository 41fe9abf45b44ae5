"""The public funnel: landing pages, checkout, order status, downloads."""

from django.urls import path

from . import views
from .dashboard import DraftDetailView, DraftReviewView, OrderDetailView, OrderListView

app_name = "commerce"

urlpatterns = [
    path("p/<slug:slug>/", views.landing, name="landing"),
    path("p/<slug:slug>/image/", views.landing_image, name="landing-image"),
    path("p/<slug:slug>/buy/", views.buy, name="buy"),
    path("checkout/success/", views.checkout_success, name="checkout-success"),
    path("checkout/cancel/", views.checkout_cancel, name="checkout-cancel"),
    path("o/<str:token>/", views.order_status, name="order-status"),
    path("d/<str:token>/", views.download, name="download"),
    path("commerce/drafts/", DraftReviewView.as_view(), name="drafts"),
    path("commerce/drafts/<int:pk>/", DraftDetailView.as_view(), name="draft"),
    path("commerce/orders/", OrderListView.as_view(), name="orders"),
    path("commerce/orders/<int:pk>/", OrderDetailView.as_view(), name="order"),
]

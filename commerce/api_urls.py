from django.urls import re_path
from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter()
router.register("products", api.ProductViewSet, basename="product")
router.register("product-drafts", api.ProductDraftViewSet, basename="product-draft")
router.register("orders", api.OrderViewSet, basename="order")
router.register("refunds", api.RefundViewSet, basename="refund")
router.register("discounts", api.DiscountViewSet, basename="discount")

urlpatterns = [
    # Before the router, so "draft"/"publish" are never read as a product id.
    re_path(r"^products/draft/?$", api.ProductDraftCreateView.as_view(), name="product-draft-create"),
    re_path(r"^products/publish/?$", api.ProductPublishView.as_view(), name="product-publish"),
    *router.urls,
]

from django.urls import path
from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter()
router.register("tickets", api.TicketViewSet, basename="ticket")

urlpatterns = [
    *router.urls,
    path("knowledge/search/", api.KnowledgeSearchView.as_view(), name="knowledge-search"),
]

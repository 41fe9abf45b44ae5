from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter()
router.register("tickets", api.TicketViewSet, basename="ticket")

urlpatterns = router.urls

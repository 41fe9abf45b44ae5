from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter()
router.register("leads", api.LeadViewSet, basename="lead")
router.register("handoffs", api.HandoffTaskViewSet, basename="handoff")

urlpatterns = router.urls

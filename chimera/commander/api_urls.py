from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter()
router.register("missions", api.MissionViewSet, basename="mission")
router.register("evidence", api.EvidenceViewSet, basename="evidence")

urlpatterns = router.urls

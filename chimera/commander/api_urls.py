from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter()
router.register("missions", api.MissionViewSet, basename="mission")

urlpatterns = router.urls

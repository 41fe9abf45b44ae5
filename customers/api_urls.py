from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter()
router.register("customers", api.CustomerViewSet, basename="customer")

urlpatterns = router.urls

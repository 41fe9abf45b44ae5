from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter()
router.register("leads", api.LeadViewSet, basename="lead")
router.register("handoffs", api.HandoffTaskViewSet, basename="handoff")
router.register("sequences", api.SequenceViewSet, basename="sequence")
router.register("experiments", api.ExperimentViewSet, basename="experiment")
router.register("campaigns", api.CampaignViewSet, basename="campaign")

urlpatterns = router.urls

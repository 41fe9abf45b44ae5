"""Missions API: list (filter by status), approve, reject. Thin: the services decide."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from autonomax.tenancy import CompanyScopedAPIMixin

from .models import Job, Mission
from .services.missions import mission_approve, mission_reject, mission_retry


class JobSerializer(serializers.ModelSerializer):
    class Meta:
        model = Job
        fields = ["id", "order", "type", "bot", "status", "attempts", "started_at", "finished_at", "result", "error"]


class MissionSerializer(serializers.ModelSerializer):
    play = serializers.CharField(source="play.key", read_only=True)
    label = serializers.SerializerMethodField()
    level = serializers.SerializerMethodField()
    jobs = JobSerializer(many=True, read_only=True)

    class Meta:
        model = Mission
        fields = ["id", "play", "label", "level", "play_version", "status", "score", "score_factors", "explanation",
                  "trigger_values", "correlation_id", "decided_by", "decided_at", "decision_reason", "outcome",
                  "created_at",
                  "measure_due_at", "completed_at", "jobs"]
        read_only_fields = fields

    def get_label(self, mission) -> str:
        return mission.play_snapshot.get("label", "")

    def get_level(self, mission) -> str:
        return mission.play_snapshot.get("level", "")


class DecisionSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class MissionViewSet(CompanyScopedAPIMixin, viewsets.ReadOnlyModelViewSet):
    """Missions of the caller's company, best score first. Filter with `?status=proposed`."""

    queryset = Mission.objects.select_related("play").prefetch_related("jobs")
    serializer_class = MissionSerializer
    filterset_fields = ["status"]
    ordering_fields = ["score", "created_at"]

    def _decide(self, request, service):
        body = DecisionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        mission = service(mission=self.get_object(), actor=request.user, reason=body.validated_data["reason"])
        return Response(self.get_serializer(self.get_queryset().get(pk=mission.pk)).data)

    @extend_schema(request=DecisionSerializer, responses=MissionSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        """Approve a proposed mission (operators/owners; strategic plays owners only)."""
        return self._decide(request, mission_approve)

    @extend_schema(request=DecisionSerializer, responses=MissionSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        """Reject a proposed mission, with an optional reason."""
        return self._decide(request, mission_reject)

    @extend_schema(request=DecisionSerializer, responses=MissionSerializer)
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        """Send an escalated mission back to work: failed or stuck jobs run again (completed ones never)."""
        return self._decide(request, mission_retry)

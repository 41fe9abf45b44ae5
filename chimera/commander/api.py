"""Missions API: list (filter by status), approve, reject; evidence records. Thin: the services decide."""

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from autonomax.api_rows import Rows
from autonomax.tenancy import CompanyScopedAPIMixin

from .models import EvidenceRecord, Job, Mission
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
                  "trigger_values", "anomaly", "correlation_id", "decided_by", "decided_at", "decision_reason",
                  "outcome", "created_at", "measure_due_at", "completed_at", "jobs", "started_at", "kpi_at_start",
                  "measure_plan", "policy", "policy_rank", "propensity"]
        read_only_fields = fields

    def get_label(self, mission) -> str:
        return mission.play_snapshot.get("label", "")

    def get_level(self, mission) -> str:
        return mission.play_snapshot.get("level", "")


class DecisionSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


MISSION_ROWS = Rows(MissionSerializer, exclude={"label", "level", "jobs"})
JOB_ROWS = Rows(JobSerializer)


class MissionViewSet(CompanyScopedAPIMixin, viewsets.ReadOnlyModelViewSet):
    """Missions of the caller's company, best score first. Filter with `?status=proposed`."""

    queryset = Mission.objects.select_related("play").prefetch_related("jobs")
    serializer_class = MissionSerializer
    filterset_fields = ["status"]
    ordering_fields = ["score", "created_at"]

    def list(self, request, *args, **kwargs):
        """The same JSON as MissionSerializer, rendered from `.values()` (lists are the hot path)."""
        queryset = self.filter_queryset(self.get_queryset()).prefetch_related(None)
        page = self.paginate_queryset(queryset.values(*MISSION_ROWS.columns(), "play_snapshot"))
        job_rows = list(Job.objects.filter(mission_id__in=[m["id"] for m in page]).values(
            "mission_id", *JOB_ROWS.columns()))
        jobs = {}
        for row, job in zip(job_rows, JOB_ROWS.render_many(job_rows), strict=True):
            jobs.setdefault(row["mission_id"], []).append(job)
        return self.get_paginated_response([
            {**mission, "label": m["play_snapshot"].get("label", ""),
             "level": m["play_snapshot"].get("level", ""), "jobs": jobs.get(m["id"], [])}
            for m, mission in zip(page, MISSION_ROWS.render_many(page), strict=True)
        ])

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


class EvidenceSerializer(serializers.ModelSerializer):
    """One measured effect. Relative values are fractions (0.1 = +10%); `effect` is absolute, in the outcome's
    units (per person for a holdout, per day for a counterfactual); the interval is central at `ci_level`."""

    mission = serializers.IntegerField(source="mission_id", read_only=True)
    play = serializers.CharField(source="play.key", read_only=True)
    window = serializers.SerializerMethodField()
    sizes = serializers.SerializerMethodField()

    class Meta:
        model = EvidenceRecord
        fields = ["id", "mission", "play", "correlation_id", "method", "kpi", "direction", "window", "window_start",
                  "window_end", "sizes", "treated_n", "control_n", "pre_days", "effect", "effect_rel", "ci_low",
                  "ci_high", "ci_low_abs", "ci_high_abs", "ci_level", "prob_improvement", "mde", "verdict", "needed",
                  "confounded_with", "kpi_before", "kpi_after", "notes", "chart", "recorded_at"]
        read_only_fields = fields

    @extend_schema_field({"type": "object", "properties": {"start": {"type": "string", "format": "date-time"},
                                                           "end": {"type": "string", "format": "date-time"}}})
    def get_window(self, record) -> dict:
        return {"start": record.window_start, "end": record.window_end}

    @extend_schema_field({"type": "object", "properties": {"treated": {"type": "integer", "nullable": True},
                                                           "control": {"type": "integer", "nullable": True},
                                                           "pre_days": {"type": "integer", "nullable": True}}})
    def get_sizes(self, record) -> dict:
        return {"treated": record.treated_n, "control": record.control_n, "pre_days": record.pre_days}


class EvidenceViewSet(CompanyScopedAPIMixin, viewsets.ReadOnlyModelViewSet):
    """Evidence records of the caller's company, newest first: method, effect, interval, probability of
    improvement and verdict (`win`, `loss`, `no_effect`, `inconclusive`). Filter with `?verdict=`, `?play=`,
    `?method=`."""

    queryset = EvidenceRecord.objects.select_related("play").order_by("-recorded_at", "-pk")
    serializer_class = EvidenceSerializer
    filterset_fields = ["verdict", "method"]

    def get_queryset(self):
        queryset = super().get_queryset()
        play = self.request.query_params.get("play")
        return queryset.filter(play__key=play) if play else queryset

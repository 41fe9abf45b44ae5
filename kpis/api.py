"""KPI API: current KPIs (same data as the board) and pushed external metrics. Thin views."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from autonomax.api_rows import Rows
from autonomax.errors import AppError
from autonomax.tenancy import CanOperate

from .selectors import kpi_board
from .services import metrics_push

MAX_ROWS = 5000


class KPIPointSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    value = serializers.DecimalField(max_digits=18, decimal_places=4)
    anomaly = serializers.CharField(allow_null=True)


class KPITrendSerializer(serializers.Serializer):
    direction = serializers.CharField(allow_null=True)
    change = serializers.DecimalField(max_digits=12, decimal_places=3, allow_null=True)


class KPICardSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    unit = serializers.CharField()
    metric = serializers.CharField()
    direction = serializers.CharField()
    status = serializers.CharField()
    value = serializers.DecimalField(max_digits=18, decimal_places=4, allow_null=True)
    target = serializers.DecimalField(max_digits=18, decimal_places=4)
    warning = serializers.DecimalField(max_digits=18, decimal_places=4)
    critical = serializers.DecimalField(max_digits=18, decimal_places=4)
    window_days = serializers.IntegerField()
    reason = serializers.CharField()
    evaluated_at = serializers.DateTimeField(allow_null=True)
    trend = KPITrendSerializer()
    anomalies = serializers.IntegerField()
    points = KPIPointSerializer(many=True)


CARD_ROWS = Rows(KPICardSerializer, exclude={"trend", "points"})
TREND_ROWS, POINT_ROWS = Rows(KPITrendSerializer), Rows(KPIPointSerializer)


class KPIListView(APIView):
    @extend_schema(responses=KPICardSerializer(many=True), summary="Current KPIs: status, value, target, trend")
    def get(self, request):
        # The same JSON as KPICardSerializer, without DRF's per-field machinery for ~500 chart points.
        cards = kpi_board(company=request.company)
        return Response([
            {**rendered, "trend": TREND_ROWS.render(card["trend"]), "points": POINT_ROWS.render_many(card["points"])}
            for card, rendered in zip(cards, CARD_ROWS.render_many(cards), strict=True)
        ])


class MetricRowSerializer(serializers.Serializer):
    metric = serializers.CharField()
    value = serializers.DecimalField(max_digits=18, decimal_places=4)
    at = serializers.DateTimeField()
    source = serializers.CharField()


class MetricPushRequestSerializer(serializers.Serializer):
    metrics = MetricRowSerializer(many=True)


class MetricPushResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    rejected = serializers.IntegerField()
    results = serializers.ListField(child=serializers.DictField())


class MetricPushView(APIView):
    permission_classes = [CanOperate]

    @extend_schema(request=MetricPushRequestSerializer, responses=MetricPushResultSerializer,
                   summary="Push external metric values; each row is accepted or rejected with reasons")
    def post(self, request):
        rows = request.data.get("metrics") if isinstance(request.data, dict) else request.data
        if not isinstance(rows, list) or len(rows) > MAX_ROWS:
            raise AppError(f"Send {{\"metrics\": [{{metric, value, at, source}}, ...]}} with at most {MAX_ROWS} rows.",
                           code="invalid")
        result = metrics_push(company=request.company, rows=rows)
        if rows and not result["accepted"]:
            raise AppError("No row was accepted.", code="all_rows_rejected", details=result)
        return Response(result, status=status.HTTP_200_OK)

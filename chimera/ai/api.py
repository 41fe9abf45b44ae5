"""POST /api/v1/ai/generate: thin over chimera.ai.services.ai_generate."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from autonomax.tenancy import CanOperate

from .config import models_config
from .services import ai_generate


class GenerateRequestSerializer(serializers.Serializer):
    task_type = serializers.CharField(max_length=64)
    prompt = serializers.CharField(trim_whitespace=False)
    max_tokens = serializers.IntegerField(required=False, min_value=1)
    temperature = serializers.FloatField(required=False, min_value=0, max_value=2)
    context = serializers.DictField(required=False, help_text="Structured inputs (e.g. keywords, audience).")
    correlation_id = serializers.CharField(required=False, max_length=64, allow_blank=True, default="")

    def validate_task_type(self, value):
        known = models_config().routing
        if value not in known:
            raise serializers.ValidationError(f"Unknown task type. Known: {', '.join(sorted(known))}.")
        return value

    def validate_prompt(self, value):
        limit = models_config().max_prompt_chars
        if not value.strip():
            raise serializers.ValidationError("This field may not be blank.")
        if len(value) > limit:
            raise serializers.ValidationError(f"Ensure this field has no more than {limit} characters.")
        return value

    def validate_max_tokens(self, value):
        limit = models_config().max_tokens_limit
        if value > limit:
            raise serializers.ValidationError(f"Ensure this value is less than or equal to {limit}.")
        return value


class GenerateResponseSerializer(serializers.Serializer):
    content = serializers.CharField()
    data = serializers.DictField(allow_null=True, help_text="The validated object for structured task types.")
    provider = serializers.CharField()
    model = serializers.CharField()
    tokens_in = serializers.IntegerField()
    tokens_out = serializers.IntegerField()
    cost_usd = serializers.DecimalField(max_digits=12, decimal_places=6)
    latency_ms = serializers.IntegerField()
    fallback = serializers.BooleanField()


class GenerateView(APIView):
    """Generate text (or a structured object) with the providers routed for the task type."""

    permission_classes = [CanOperate]  # generating spends the company's AI budget

    @extend_schema(
        request=GenerateRequestSerializer,
        responses={
            200: GenerateResponseSerializer,
            400: OpenApiResponse(description="Invalid input (unknown task_type, prompt too long, bad max_tokens)."),
            429: OpenApiResponse(description="`budget_exceeded`: the day's AI budget is spent; names the budget."),
            502: OpenApiResponse(description="A provider rejected the request or answered invalid JSON twice."),
            503: OpenApiResponse(description="`all_providers_failed`: details list each provider's reason."),
        },
    )
    def post(self, request):
        body = GenerateRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        result = ai_generate(company=request.company, **body.validated_data)
        return Response(result.as_dict())



"""URLs for bench/api_lists.py: the project's own, plus bare views that return `.values()` of the same rows
(no authentication, no serializer, no pagination) as the baseline."""

from datetime import timedelta

from django.core.serializers.json import DjangoJSONEncoder
from django.http import JsonResponse
from django.urls import include, path
from django.utils import timezone

from autonomax.models import Company
from chimera.commander.models import Job, Mission
from commerce.models import Order, OrderItem
from kpis.models import KPIDefinition, KPIEvaluation, MetricSnapshot

SLUG = "bench-api"


def _json(data):
    return JsonResponse(data, encoder=DjangoJSONEncoder, safe=False)


def bare_missions(request):
    company = Company.objects.get(slug=SLUG)
    rows = list(Mission.objects.filter(company=company).order_by("-score", "-created_at").values()[:50])
    jobs = list(Job.objects.filter(mission_id__in=[r["id"] for r in rows]).values())
    return _json({"results": rows, "jobs": jobs})


def bare_orders(request):
    company = Company.objects.get(slug=SLUG)
    # The API nests each order's customer: the same rows carry the customer's columns (one join) here too.
    rows = list(Order.objects.filter(company=company).order_by("-created_at")
                .values(*[f.attname for f in Order._meta.concrete_fields],
                        "customer__email", "customer__name", "customer__created_at")[:50])
    items = list(OrderItem.objects.filter(order_id__in=[r["id"] for r in rows]).values())
    return _json({"results": rows, "items": items})


def bare_kpis(request):
    company = Company.objects.get(slug=SLUG)
    kpis = list(KPIDefinition.objects.filter(company=company, is_active=True).values())
    evaluations = list(KPIEvaluation.objects.filter(pk__in=[k["last_evaluation_id"] for k in kpis]).values())
    since = timezone.now() - timedelta(days=31)
    points = list(MetricSnapshot.objects.filter(company=company, metric__in=[k["metric"] for k in kpis],
                                                window_days=1, at__gte=since)
                  .order_by("metric", "at").values("metric", "at", "value"))
    return _json({"kpis": kpis, "evaluations": evaluations, "points": points})


urlpatterns = [
    path("bench/missions/", bare_missions),
    path("bench/orders/", bare_orders),
    path("bench/kpis/", bare_kpis),
    path("", include("autonomax.urls")),
]

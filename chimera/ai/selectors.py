"""The AI engine's reads: today's spend against the cap, and the call log."""

from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Count, Q, Sum

from autonomax.models import Company

from .breaker import breaker
from .budget import ai_budget_day, ai_budget_for
from .config import models_config
from .models import AICall, AIRoutingPreference, AISpendDay


def ai_spend_summary(*, company: Company, day=None) -> dict:
    """Spend vs cap for one day (default: today in the company's time zone), calls by provider and rates.

    `spent_usd` is settled cost; `reserved_usd` is held by calls in flight.
    `over_budget` is true when nothing is left or a call that day was refused
    or sent to the offline provider because of the budget.
    """
    day = day or ai_budget_day(company=company)
    budget = ai_budget_for(company=company, config=models_config())
    ledger = AISpendDay.objects.filter(company=company, day=day).values("spent_usd", "reserved_usd").first() or {}
    spent = Decimal(ledger.get("spent_usd") or 0)
    reserved = Decimal(ledger.get("reserved_usd") or 0)
    start = datetime.combine(day, time.min, tzinfo=_company_tz(company))
    calls = AICall.objects.filter(company=company, created_at__gte=start, created_at__lt=start + timedelta(days=1))
    totals = calls.aggregate(
        total=Count("id"),
        failed=Count("id", filter=Q(status=AICall.Status.FAILED)),
        fallback=Count("id", filter=Q(fallback=True)),
        budget_hits=Count("id", filter=Q(error_code="budget_exceeded")),
        tokens_in=Sum("tokens_in"),
        tokens_out=Sum("tokens_out"),
    )
    by_provider = [
        {"provider": row["provider"] or "(none)", "calls": row["calls"], "failed": row["failed"],
         "cost_usd": row["cost"] or Decimal(0)}
        for row in calls.values("provider").annotate(
            calls=Count("id"), failed=Count("id", filter=Q(status=AICall.Status.FAILED)), cost=Sum("cost_usd"),
        ).order_by("-calls", "provider")
    ]
    total = totals["total"]
    remaining = max(budget.cap - spent - reserved, Decimal(0))
    preference = AIRoutingPreference.objects.filter(company=company).values_list("preference", flat=True).first()
    return {
        "day": day,
        "spent_usd": spent,
        "reserved_usd": reserved,
        "cap_usd": budget.cap,
        "budget": budget.name,
        "remaining_usd": remaining,
        "used_pct": float(min((spent + reserved) / budget.cap * 100, Decimal(100))) if budget.cap else 100.0,
        "calls": total,
        "failed": totals["failed"],
        "fallbacks": totals["fallback"],
        "budget_hits": totals["budget_hits"],
        "tokens_in": totals["tokens_in"] or 0,
        "tokens_out": totals["tokens_out"] or 0,
        "failure_rate": totals["failed"] / total if total else 0.0,
        "fallback_rate": totals["fallback"] / total if total else 0.0,
        "calls_by_provider": by_provider,
        "over_budget": remaining <= 0 or totals["budget_hits"] > 0,
        "routing_preference": preference or AIRoutingPreference.Preference.DEFAULT,
    }


def ai_spend_by_day(*, company: Company, days: int = 30, today=None) -> dict:
    """The chart on the AI panel: settled spend per day over the last `days` days (today included, days with
    no spend as 0) against the daily cap in force now, in one query."""
    today = today or ai_budget_day(company=company)
    first = today - timedelta(days=days - 1)
    spent = dict(AISpendDay.objects.filter(company=company, day__gte=first, day__lte=today)
                 .values_list("day", "spent_usd"))
    dates = [first + timedelta(days=i) for i in range(days)]
    return {
        "labels": [d.isoformat() for d in dates],
        "spent_usd": [float(spent.get(d) or 0) for d in dates],
        "cap_usd": float(ai_budget_for(company=company, config=models_config()).cap),
    }


def ai_call_list(*, company: Company, limit: int = 20):
    """The company's latest AI calls, newest first."""
    return AICall.objects.filter(company=company).order_by("-created_at")[:limit]


def _company_tz(company: Company) -> ZoneInfo:
    try:
        return ZoneInfo(company.timezone)
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def ai_provider_status() -> list[dict]:
    """Each configured provider: usable here or why not, and its cooldown as this process sees it."""
    config = models_config()
    rows = []
    for provider in config.providers.values():
        cooldown = 0.0 if provider.is_offline else breaker.cooldown_left(provider.name)
        rows.append({
            "name": provider.name,
            "models": list(provider.models),
            "available": not provider.unavailable_reason(),
            "reason": provider.unavailable_reason(),
            "cooldown_s": round(cooldown),
            "cooldown_reason": breaker.reason(provider.name) if cooldown else "",
            "routes": sorted(task for task, route in config.routing.items()
                             if any(step.provider == provider.name for step in route)),
        })
    return rows

"""Support writes: FAQ macros for the most frequent ticket intents."""

from datetime import timedelta

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from autonomax.models import Company

from .models import Macro, Ticket


def ticket_intents_frequent(*, company: Company, days: int = 30, min_tickets: int = 2, top: int = 5) -> list[dict]:
    """[{intent, count, subjects}] most frequent intents of the last `days`, most frequent first."""
    since = timezone.now() - timedelta(days=days)
    rows = list(Ticket.objects.filter(company=company, created_at__gte=since).exclude(intent="")
                .values("intent").annotate(count=Count("id")).filter(count__gte=min_tickets)
                .order_by("-count", "intent")[:top])
    for row in rows:
        row["subjects"] = list(Ticket.objects.filter(company=company, intent=row["intent"], created_at__gte=since)
                               .values_list("subject", flat=True).distinct()[:5])
    return rows


def macros_write_for_frequent_intents(*, company: Company, source_key: str, days: int = 30, min_tickets: int = 2,
                                      top: int = 5, guard=None, correlation_id: str = "") -> dict:
    """Write (or refresh) one macro per frequent intent with the AI engine; a repeat with the same key is a no-op."""
    from chimera.ai.services import ai_generate  # noqa: PLC0415 - the AI engine knows no app; apps call it

    written, kept = [], []
    for row in ticket_intents_frequent(company=company, days=days, min_tickets=min_tickets, top=top):
        if Macro.objects.filter(company=company, intent=row["intent"], source_key=source_key).exists():
            kept.append(row["intent"])
            continue
        if guard is not None:
            guard()
        prompt = (f"Write a short, friendly support answer (FAQ macro) for customers of a digital-products store "
                  f"whose question is about '{row['intent'].replace('_', ' ')}'. Example subjects: "
                  f"{'; '.join(row['subjects'])}. Give concrete steps; no promises the store cannot keep.")
        result = ai_generate(company=company, task_type="support_answer", prompt=prompt,
                             correlation_id=correlation_id, context={"intent": row["intent"]})
        with transaction.atomic():
            Macro.objects.update_or_create(
                company=company, intent=row["intent"],
                defaults={"title": f"FAQ: {row['intent'].replace('_', ' ')}", "body": result.content.strip(),
                          "ticket_count": row["count"], "source_key": source_key, "ai_provider": result.provider},
            )
        written.append(row["intent"])
    return {"written": written, "already_written": kept}

"""Support writes: FAQ macros for the most frequent ticket intents."""

from datetime import timedelta
from decimal import Decimal

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


def macro_answer_check(*, data, threshold: Decimal) -> tuple[str, Decimal, str]:
    """(answer text, confidence, why not) of a structured support answer; `why not` is '' when it may be kept.

    Kept only for a real answer: parsed text, not flagged for escalation, confidence at or above `threshold`.
    """
    if not isinstance(data, dict):
        return "", Decimal(0), "the model gave no structured answer"
    answer = str(data.get("answer") or "").strip()
    try:
        confidence = Decimal(str(data.get("confidence", 0))).quantize(Decimal("0.01"))
    except ArithmeticError:
        confidence = Decimal(0)
    if not answer:
        return "", confidence, "the model gave an empty answer"
    if data.get("escalate"):
        return answer, confidence, f"the model was not sure (confidence {confidence}, it asked to escalate)"
    if confidence < threshold:
        return answer, confidence, f"confidence {confidence} is below the company's minimum {threshold}"
    return answer, confidence, ""


def macros_write_for_frequent_intents(*, company: Company, source_key: str, days: int = 30, min_tickets: int = 2,
                                      top: int = 5, guard=None, correlation_id: str = "") -> dict:
    """Write (or refresh) one macro per frequent intent with the AI engine; a repeat with the same key is a no-op.

    A macro is stored only for a real answer (see macro_answer_check against the company's
    `support_min_confidence`); a macro a person edited is never overwritten. Returns
    {written, already_written, not_written: {intent: why}}.
    """
    from chimera.ai.services import ai_generate  # noqa: PLC0415 - the AI engine knows no app; apps call it

    written, kept, not_written = [], [], {}
    threshold = Decimal(str(company.support_min_confidence))
    for row in ticket_intents_frequent(company=company, days=days, min_tickets=min_tickets, top=top):
        existing = Macro.objects.filter(company=company, intent=row["intent"]).first()
        if existing is not None and existing.source_key == source_key:
            kept.append(row["intent"])
            continue
        if existing is not None and existing.edited_by_id:
            not_written[row["intent"]] = f"kept the macro {existing.edited_by} edited"
            continue
        if guard is not None:
            guard()
        prompt = (f"Write a short, friendly support answer (FAQ macro) for customers of a digital-products store "
                  f"whose question is about '{row['intent'].replace('_', ' ')}'. Example subjects: "
                  f"{'; '.join(row['subjects'])}. Give concrete steps; no promises the store cannot keep.")
        result = ai_generate(company=company, task_type="support_answer", prompt=prompt,
                             correlation_id=correlation_id, context={"intent": row["intent"]})
        answer, confidence, why_not = macro_answer_check(data=result.data, threshold=threshold)
        if why_not:
            not_written[row["intent"]] = why_not
            continue
        with transaction.atomic():
            Macro.objects.update_or_create(
                company=company, intent=row["intent"],
                defaults={"title": f"FAQ: {row['intent'].replace('_', ' ')}", "body": answer,
                          "confidence": confidence, "ticket_count": row["count"], "source_key": source_key,
                          "ai_provider": f"{result.provider}/{result.model}"[:64]},
            )
        written.append(row["intent"])
    return {"written": written, "already_written": kept, "not_written": not_written}


@transaction.atomic
def macro_edit(*, macro: Macro, actor, title: str, body: str) -> Macro:
    """A person edits a macro: it becomes theirs, and the support bot never overwrites it."""
    if not body.strip():
        from autonomax.errors import AppError  # noqa: PLC0415

        raise AppError("A macro needs an answer.", code="invalid")
    macro = Macro.objects.select_for_update().get(pk=macro.pk)
    macro.title, macro.body = title.strip() or macro.title, body.strip()
    macro.edited_by, macro.edited_at = actor, timezone.now()
    macro.save(update_fields=["title", "body", "edited_by", "edited_at", "updated_at"])
    return macro

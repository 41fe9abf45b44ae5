"""The daily AI budget: reserve the worst-case cost before a hosted call, settle the real cost after.

The reservation is one conditional UPDATE (`spent + reserved + estimate <= cap`);
on PostgreSQL concurrent UPDATEs of the row wait for each other and re-check
the condition, so no number of concurrent calls can push the day past the cap.
"""

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import DecimalField, F, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from autonomax.models import Company

from .config import ModelPrice, ModelsConfig
from .errors import BudgetExceeded
from .models import AISpendDay

MICRO = Decimal("0.000001")


@dataclass(frozen=True)
class Budget:
    cap: Decimal
    name: str


def ai_budget_for(*, company: Company, config: ModelsConfig) -> Budget:
    """The cap in force: the company's own override, else the global one from models.yml."""
    if company.ai_max_cost_usd_per_day is not None:
        return Budget(Decimal(company.ai_max_cost_usd_per_day),
                      f"company '{company.slug}' ai_max_cost_usd_per_day (per-company daily cap)")
    return Budget(config.max_cost_usd_per_day, f"policies.max_cost_usd_per_day in {config.file} (global daily cap)")


def ai_budget_day(*, company: Company):
    """Today in the company's time zone."""
    try:
        tz = ZoneInfo(company.timezone)
    except (KeyError, ValueError):
        tz = ZoneInfo("UTC")
    return timezone.localdate(timezone=tz)


def ai_cost(*, price: ModelPrice, tokens_in: int, tokens_out: int, rounding=None) -> Decimal:
    cost = (Decimal(tokens_in) * price.input_per_1k + Decimal(tokens_out) * price.output_per_1k) / 1000
    return cost.quantize(MICRO, rounding=rounding) if rounding else cost.quantize(MICRO)


def ai_cost_estimate(*, price: ModelPrice, messages: list[dict], max_tokens: int) -> Decimal:
    """An upper bound of the call's cost: byte-level tokenizers never use more than one token per byte."""
    tokens_in = sum(len(m["content"].encode()) + 4 for m in messages) + 3
    return ai_cost(price=price, tokens_in=tokens_in, tokens_out=max_tokens, rounding=ROUND_CEILING)


def ai_budget_reserve(*, company: Company, day, amount: Decimal, budget: Budget) -> None:
    """Reserve `amount` of today's budget, or raise BudgetExceeded naming the budget."""
    if amount <= 0:
        return
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            # A reservation is transient: it need not wait for its WAL flush (it is visible to other
            # transactions at commit either way). The settle that follows commits synchronously and
            # flushes it too; if a crash loses it first, the settle's GREATEST(..., 0) keeps the row sane.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        rows = AISpendDay.objects.filter(company=company, day=day)
        fits = rows.filter(spent_usd__lte=Value(budget.cap - amount, output_field=DecimalField()) - F("reserved_usd"))
        if fits.update(reserved_usd=F("reserved_usd") + amount):
            return
        if not rows.exists():
            # First call of the day: create the row (a concurrent creator may win), then try again.
            AISpendDay.objects.bulk_create([AISpendDay(company=company, day=day)], ignore_conflicts=True)
            if fits.update(reserved_usd=F("reserved_usd") + amount):
                return
        row = rows.values("spent_usd", "reserved_usd").first() or {"spent_usd": 0, "reserved_usd": 0}
    raise BudgetExceeded(budget=budget.name, cap=budget.cap, spent=row["spent_usd"] + row["reserved_usd"],
                         needed=amount)


def ai_budget_settle(*, company: Company, day, reserved: Decimal, actual: Decimal) -> None:
    """Release a reservation and record what the call really cost (call inside the log write's transaction)."""
    if reserved <= 0 and actual <= 0:
        return
    AISpendDay.objects.filter(company=company, day=day).update(
        reserved_usd=Greatest(F("reserved_usd") - reserved, Value(0, output_field=DecimalField())),
        spent_usd=F("spent_usd") + actual,
    )

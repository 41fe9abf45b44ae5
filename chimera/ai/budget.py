"""The daily AI budget: reserve the worst-case cost before a hosted call, settle the real cost after.

The reservation is one conditional UPDATE (`spent + reserved + estimate <= cap`);
on PostgreSQL concurrent UPDATEs of the row wait for each other and re-check
the condition, so no number of concurrent calls can push the day past the cap.

What a call is charged against the cap never exceeds what it reserved (its
worst case at `max_tokens`): a provider reporting more than that is
misbehaving; the excess is recorded as an overrun (on the call and the day)
and the provider goes into cooldown. A call whose reservation does not fit
only because of other calls still in flight waits briefly for them to settle
(they usually cost far less than they reserved) instead of falling back at
once, so a burst uses the cap before it falls back.
"""

import functools
import time
from contextlib import contextmanager
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
from .models import AICall, AISpendDay

MICRO = Decimal("0.000001")
# How long a reservation may wait for calls in flight to settle (bounded by the call's own timeout), and how
# often it looks again.
RESERVE_WAIT_S = 10.0
RESERVE_POLL_S = 0.02


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


def _ledger_transaction():
    """transaction.atomic for the spend ledger and the call log, without waiting for the WAL flush.

    On PostgreSQL the commit returns before its WAL reaches the disk
    (synchronous_commit off for this transaction only). Visibility and
    locking are unchanged, so the cap holds under any concurrency; what a
    database *crash* can lose is the last fraction of a second of call log
    rows and settled spend. An fsync per AI call would otherwise cost more
    than the rest of the engine together. GREATEST(..., 0) in the settle
    keeps the ledger sane if a crash loses a reservation but not its call.
    """
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        yield


# Wrapped here, not decorated: mutmut skips decorated functions (scripts/mutmut.sh).
ledger_transaction = contextmanager(_ledger_transaction)


def _one_round_trip() -> bool:
    """True on PostgreSQL outside any transaction: then each ledger write goes out as ONE multi-statement query.

    PostgreSQL runs the statements of one simple query as a single implicit
    transaction, so this is as atomic as transaction.atomic, in one round trip
    instead of four or five (Django's psycopg cursors bind parameters on the
    client, which allows several statements in one execute). Inside a caller's
    transaction the ORM path runs instead, so SET LOCAL never touches the
    caller's own commit.
    """
    return connection.vendor == "postgresql" and not connection.in_atomic_block


_ASYNC_COMMIT = "SET LOCAL synchronous_commit TO OFF; "
_RESERVE = (f"UPDATE {AISpendDay._meta.db_table} SET reserved_usd = reserved_usd + %s "
            "WHERE company_id = %s AND day = %s AND spent_usd <= %s - reserved_usd")
_SETTLE = (f"UPDATE {AISpendDay._meta.db_table} SET reserved_usd = GREATEST(reserved_usd - %s, 0), "
           "spent_usd = spent_usd + %s, overrun_usd = overrun_usd + %s WHERE company_id = %s AND day = %s")


def ai_budget_charge(*, reserved: Decimal, actual: Decimal) -> tuple[Decimal, Decimal]:
    """(what is charged against the cap, the overrun): the charge never exceeds the call's reservation."""
    charged = min(actual, reserved) if reserved > 0 else actual
    return charged, actual - charged


def ai_budget_reserve(*, company: Company, day, amount: Decimal, budget: Budget, wait_s: float = 0) -> None:
    """Reserve `amount` of today's budget, or raise BudgetExceeded naming the budget.

    When it does not fit only because of reservations of calls in flight (the settled spend leaves room),
    wait up to `wait_s` for them to settle. Never inside a caller's transaction: that could hold the row.
    """
    if amount <= 0:
        return
    give_up = time.monotonic() + wait_s
    while True:
        try:
            return _reserve_once(company=company, day=day, amount=amount, budget=budget)
        except BudgetExceeded as exc:
            settled_room = exc.spent_settled + amount <= budget.cap and exc.reserved > 0
            if not settled_room or connection.in_atomic_block or time.monotonic() + RESERVE_POLL_S > give_up:
                raise
        time.sleep(RESERVE_POLL_S)


def _reserve_once(*, company: Company, day, amount: Decimal, budget: Budget) -> None:
    if _one_round_trip():
        with connection.cursor() as cursor:
            cursor.execute(_ASYNC_COMMIT + _RESERVE, [amount, company.pk, day, budget.cap - amount])
            cursor.nextset()
            if cursor.rowcount == 1:
                return
        # No row yet today, or over the cap: the ORM path below creates the row or names the budget.
    with ledger_transaction():
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
    exc = BudgetExceeded(budget=budget.name, cap=budget.cap, spent=row["spent_usd"] + row["reserved_usd"],
                         needed=amount)
    exc.spent_settled, exc.reserved = Decimal(row["spent_usd"]), Decimal(row["reserved_usd"])
    raise exc


_CALL_FIELDS = [f for f in AICall._meta.concrete_fields if not f.primary_key]


def _insert_call_sql_build() -> str:
    columns = ", ".join(connection.ops.quote_name(f.column) for f in _CALL_FIELDS)
    return f"INSERT INTO {AICall._meta.db_table} ({columns}) VALUES ({', '.join(['%s'] * len(_CALL_FIELDS))})"


_insert_call_sql = functools.cache(_insert_call_sql_build)


def ai_call_record(*, row: AICall, day, reserved: Decimal, actual: Decimal, overrun: Decimal = Decimal(0)) -> None:
    """Insert the call log row and settle the call's reservation (when `day` is set) atomically.

    `actual` is what is charged against the cap (at most `reserved`), `overrun` what was reported beyond it.
    """
    if _one_round_trip():
        # Values prepared exactly as Model.save() prepares them (auto_now_add included).
        insert_params = [f.get_db_prep_save(f.pre_save(row, add=True), connection=connection) for f in _CALL_FIELDS]
        sql, params = _ASYNC_COMMIT, []
        if day is not None and (reserved > 0 or actual > 0 or overrun > 0):
            sql += _SETTLE + "; "
            params += [reserved, actual, overrun, row.company_id, day]
        with connection.cursor() as cursor:
            cursor.execute(sql + _insert_call_sql(), [*params, *insert_params])
        return
    with ledger_transaction():
        if day is not None:
            ai_budget_settle(company=row.company, day=day, reserved=reserved, actual=actual, overrun=overrun)
        row.save(force_insert=True)


def ai_budget_settle(*, company: Company, day, reserved: Decimal, actual: Decimal,
                     overrun: Decimal = Decimal(0)) -> None:
    """Release a reservation and charge the call (at most what it reserved; the overrun is recorded apart).
    Call inside ledger_transaction."""
    if reserved <= 0 and actual <= 0 and overrun <= 0:
        return
    AISpendDay.objects.filter(company=company, day=day).update(
        reserved_usd=Greatest(F("reserved_usd") - reserved, Value(0, output_field=DecimalField())),
        spent_usd=F("spent_usd") + actual,
        overrun_usd=F("overrun_usd") + overrun,
    )

import threading
from datetime import timedelta
from decimal import ROUND_CEILING, Decimal

import pytest
from django.db import connection, transaction

from autonomax.models import Company
from chimera.ai.budget import (
    ai_budget_charge,
    ai_budget_day,
    ai_budget_settle,
    ai_call_record,
    ai_cost,
    ai_cost_estimate,
    ledger_transaction,
)
from chimera.ai.config import ModelPrice
from chimera.ai.errors import BudgetExceeded
from chimera.ai.models import AICall, AISpendDay
from chimera.ai.selectors import ai_spend_summary
from chimera.ai.services import ai_generate

from .openai_server import error, ok


def _day_row(company):
    return AISpendDay.objects.get(company=company, day=ai_budget_day(company=company))


@pytest.mark.django_db
def test_spend_is_settled_from_reported_usage_and_the_reservation_released(company, openai_server, models_file):
    # given
    server = openai_server(default=ok("x", prompt_tokens=1000, completion_tokens=500))
    models_file(providers={"alpha": server.url})

    # when (max_tokens 1000: the reported usage is within each call's reserved worst case)
    ai_generate(company=company, task_type="quick_response", prompt="hi", max_tokens=1000)
    ai_generate(company=company, task_type="quick_response", prompt="hi again", max_tokens=1000)

    # then
    row = _day_row(company)
    assert row.spent_usd == Decimal("0.040000")  # 2 x (1000*0.01 + 500*0.02)/1000
    assert row.reserved_usd == 0


@pytest.mark.django_db
def test_failed_call_releases_its_reservation_and_costs_nothing(company, openai_server, models_file):
    # given
    server = openai_server(default=error(500))
    models_file(providers={"alpha": server.url})

    # when
    ai_generate(company=company, task_type="quick_response", prompt="hi")

    # then
    row = _day_row(company)
    assert (row.spent_usd, row.reserved_usd) == (0, 0)


@pytest.mark.django_db
def test_over_budget_routes_to_offline_and_the_summary_says_so(company, openai_server, models_file):
    # given: a cap smaller than one call's worst case (100 tokens out alone cost 0.002)
    server = openai_server()
    models_file(providers={"alpha": server.url}, max_cost_usd_per_day="0.001")

    # when
    result = ai_generate(company=company, task_type="content_generation", prompt="budget planner ideas")

    # then
    assert result.provider == "offline" and result.fallback is True
    assert server.requests == []
    call = AICall.objects.get()
    assert call.error_code == "budget_exceeded" and "policies.max_cost_usd_per_day" in call.error
    summary = ai_spend_summary(company=company)
    assert summary["over_budget"] is True and summary["budget_hits"] == 1
    assert summary["cap_usd"] == Decimal("0.001")


@pytest.mark.django_db
def test_over_budget_fails_when_the_route_forbids_offline(company, openai_server, models_file):
    # given: the per-company override is the budget in force
    server = openai_server()
    models_file(providers={"alpha": server.url}, route=["alpha"])
    company.ai_max_cost_usd_per_day = Decimal("0.0010")
    company.save(update_fields=["ai_max_cost_usd_per_day"])

    # when
    with pytest.raises(BudgetExceeded) as caught:
        ai_generate(company=company, task_type="analysis", prompt="numbers")

    # then
    assert "company 'acme' ai_max_cost_usd_per_day" in caught.value.budget
    assert caught.value.status == 429 and caught.value.code == "budget_exceeded"
    assert server.requests == []
    assert AICall.objects.get().status == "failed"
    assert _day_row(company).spent_usd == 0


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_calls_never_push_the_day_past_the_cap(openai_server, models_file):
    # given: each call reserves about 0.00225 (estimate) and costs 0.0018 (reported usage)
    if connection.vendor != "postgresql":
        pytest.skip("row-level locking under concurrent UPDATEs needs PostgreSQL; SQLite serialises all writers")
    company = Company.objects.create(slug="busy", name="Busy", ai_max_cost_usd_per_day=Decimal("0.05"))
    server = openai_server(default=ok("answer", prompt_tokens=120, completion_tokens=30))
    models_file(providers={"alpha": server.url}, route=["alpha"])
    cap = Decimal("0.05")
    results, errors = [], []
    start = threading.Barrier(50)

    def worker():
        try:
            start.wait()
            results.append(ai_generate(company=company, task_type="quick_response", prompt="How are you?"))
        except BudgetExceeded as exc:
            errors.append(exc)
        finally:
            connection.close()

    # when
    threads = [threading.Thread(target=worker) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    # then
    row = _day_row(company)
    assert row.reserved_usd == 0
    assert row.spent_usd <= cap
    assert row.spent_usd == sum(r.cost_usd for r in results)
    assert len(results) + len(errors) == 50
    assert results and errors, "the cap must let some calls through and refuse the rest"
    assert len(server.requests) == len(results)
    assert AICall.objects.filter(company=company).count() == 50


@pytest.mark.django_db(transaction=True)
def test_ledger_and_call_log_outside_a_transaction(openai_server, models_file):
    # given: no surrounding transaction, as in a web request or a Celery task (the one-round-trip writes)
    company = Company.objects.create(slug="solo", name="Solo")
    server = openai_server(default=ok("x", prompt_tokens=1000, completion_tokens=500))
    models_file(providers={"alpha": server.url})

    # when (max_tokens 1000: the reported usage is within each call's reserved worst case)
    first = ai_generate(company=company, task_type="quick_response", prompt="hi", correlation_id="m-1",
                        max_tokens=1000)
    second = ai_generate(company=company, task_type="quick_response", prompt="hi again", max_tokens=1000)

    # then
    row = _day_row(company)
    assert (row.spent_usd, row.reserved_usd) == (Decimal("0.040000"), 0)
    calls = list(AICall.objects.filter(company=company).order_by("id"))
    assert [c.cost_usd for c in calls] == [first.cost_usd, second.cost_usd] == [Decimal("0.02")] * 2
    assert calls[0].correlation_id == "m-1" and calls[0].created_at is not None and len(calls[0].prompt_hash) == 64


@pytest.mark.django_db
def test_a_reply_without_usage_is_charged_the_reserved_worst_case(company, openai_server, models_file):
    # given: a local server that reports no token usage
    server = openai_server(default=ok("fine", usage=False))
    models_file(providers={"alpha": server.url})

    # when
    result = ai_generate(company=company, task_type="quick_response", prompt="hi")

    # then: max_tokens 100 x 0.02/1k alone is 0.002; the prompt bytes add the rest
    assert result.cost_usd > Decimal("0.002") and (result.tokens_in, result.tokens_out) == (0, 0)
    row = _day_row(company)
    assert (row.spent_usd, row.reserved_usd) == (result.cost_usd, 0)


# --- a provider that misreports, a burst, two companies, the company's day (issue 9) ---------------------------

@pytest.mark.django_db
def test_a_provider_reporting_more_than_max_tokens_never_pushes_spend_past_the_cap(company, openai_server,
                                                                                  models_file):
    # given a $0.05 cap and a provider that claims 3,000 output tokens for max_tokens 100 ($0.06 a call)
    from chimera.ai.breaker import breaker

    server = openai_server(default=ok("x", prompt_tokens=20, completion_tokens=3000))
    models_file(providers={"alpha": server.url}, max_cost_usd_per_day="0.05", cooldown_s=600)
    cap = Decimal("0.05")

    # when it answers one call
    first = ai_generate(company=company, task_type="quick_response", prompt="hi")

    # then the answer is used, the cap is charged only the reservation's ceiling, the overrun is recorded
    assert first.provider == "alpha"
    call = AICall.objects.get()
    row = _day_row(company)
    assert call.cost_usd > Decimal("0.06") and call.overrun_usd > Decimal("0.057")
    assert row.spent_usd == call.cost_usd - call.overrun_usd and row.spent_usd < Decimal("0.003")
    assert row.overrun_usd == call.overrun_usd and row.reserved_usd == 0
    assert "misreported usage: 3000 output tokens for max_tokens 100" in call.error
    # and the provider is in cooldown as misbehaving: the next call goes offline without asking it
    assert breaker.cooldown_left("alpha") == 600 and "misreported" in breaker.reason("alpha")
    second = ai_generate(company=company, task_type="quick_response", prompt="hi again")
    assert second.provider == "offline" and second.fallback is True and len(server.requests) == 1

    # when its cooldown ends again and again (50 calls in all), spend still never passes the cap
    for n in range(48):
        breaker.reset()
        ai_generate(company=company, task_type="quick_response", prompt=f"call {n}")
    row = _day_row(company)
    assert row.spent_usd <= cap and row.reserved_usd == 0
    assert row.spent_usd + row.overrun_usd == sum(c.cost_usd for c in AICall.objects.filter(provider="alpha"))


@pytest.mark.django_db
def test_spend_counts_only_the_companys_own_row(company, other_company, openai_server, models_file):
    # given the other company has used its whole day's cap today
    server = openai_server(default=ok("x", prompt_tokens=10, completion_tokens=10))
    models_file(providers={"alpha": server.url}, max_cost_usd_per_day="0.01", route=["alpha"])
    AISpendDay.objects.create(company=other_company, day=ai_budget_day(company=other_company),
                              spent_usd=Decimal("0.01"))

    # when this company calls
    result = ai_generate(company=company, task_type="quick_response", prompt="hi")

    # then it is not refused for the other's spend, and only its own row moves
    assert result.provider == "alpha"
    assert _day_row(company).spent_usd == result.cost_usd
    assert _day_row(other_company).spent_usd == Decimal("0.01")


@pytest.mark.django_db
def test_the_budget_day_is_the_companys_local_day(openai_server, models_file):
    # given 23:30 UTC on 1 March is already 2 March in Kiritimati (UTC+14)
    import time_machine

    from chimera.ai.budget import ai_budget_day
    from tests.factories import CompanyFactory

    far_east = CompanyFactory(slug="kiri", timezone="Pacific/Kiritimati")
    utc = CompanyFactory(slug="utc-co", timezone="UTC")
    server = openai_server(default=ok("x", prompt_tokens=10, completion_tokens=10))
    models_file(providers={"alpha": server.url})

    with time_machine.travel("2026-03-01 23:30:00+00:00", tick=False):
        # when
        ai_generate(company=far_east, task_type="quick_response", prompt="hi")
        days = (ai_budget_day(company=far_east), ai_budget_day(company=utc))

    # then
    import datetime

    assert days == (datetime.date(2026, 3, 2), datetime.date(2026, 3, 1))
    assert list(AISpendDay.objects.filter(company=far_east).values_list("day", flat=True)) == [days[0]]


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_fifty_calls_uses_the_cap_before_falling_back(openai_server, models_file):
    # given each call reserves about 0.00225 (worst case) and costs 0.0018: the cap holds 27 calls' costs
    if connection.vendor != "postgresql":
        pytest.skip("concurrent reservations need PostgreSQL row locks")
    company = Company.objects.create(slug="burst", name="Burst", ai_max_cost_usd_per_day=Decimal("0.05"))
    server = openai_server(default=ok("answer", prompt_tokens=120, completion_tokens=30))
    models_file(providers={"alpha": server.url})
    cap = Decimal("0.05")
    results = []
    start = threading.Barrier(50)

    def worker():
        try:
            start.wait()
            results.append(ai_generate(company=company, task_type="quick_response", prompt="How are you?"))
        finally:
            connection.close()

    # when 50 calls start at once
    threads = [threading.Thread(target=worker) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    # then the day is filled close to the cap before any call falls back, and never past it
    row = _day_row(company)
    hosted = [r for r in results if r.provider == "alpha"]
    used = row.spent_usd / cap
    print(f"burst: {len(hosted)} hosted, {50 - len(hosted)} offline ({(50 - len(hosted)) * 2}% fell back), "
          f"cap used {used:.0%}")
    assert len(results) == 50 and row.reserved_usd == 0 and row.spent_usd <= cap
    # (without the wait at most 22 reservations fit at once: 16 hosted, 58% of the cap used when measured)
    assert used >= Decimal("0.85") and len(hosted) >= 24


# --- the ledger's arithmetic, called directly -----------------------------------------------------------------

@pytest.mark.parametrize(("reserved", "actual", "expected"), [
    ("0.010", "0.004", ("0.004", "0")),       # within the reservation: charged in full
    ("0.010", "0.030", ("0.010", "0.020")),   # beyond it: the excess is an overrun
    ("0", "0.500", ("0.500", "0")),           # no reservation at all: charged in full, no overrun
])
def test_a_charge_never_exceeds_the_reservation_and_an_unreserved_call_is_charged_in_full(reserved, actual,
                                                                                          expected):
    # when
    charged, overrun = ai_budget_charge(reserved=Decimal(reserved), actual=Decimal(actual))
    # then
    assert (charged, overrun) == (Decimal(expected[0]), Decimal(expected[1]))


@pytest.mark.django_db
def test_settling_moves_only_the_companys_row_of_that_day(company, other_company):
    # given the company's rows for today (0.030 reserved by calls in flight) and yesterday, and the other
    # company's row today (0.010 reserved each)
    today = ai_budget_day(company=company)
    yesterday = today - timedelta(days=1)
    AISpendDay.objects.create(company=company, day=today, reserved_usd=Decimal("0.030"))
    for owner, day in [(company, yesterday), (other_company, today)]:
        AISpendDay.objects.create(company=owner, day=day, reserved_usd=Decimal("0.010"))

    # when a call of today that reserved 0.010 settles at 0.004
    ai_budget_settle(company=company, day=today, reserved=Decimal("0.010"), actual=Decimal("0.004"))

    # then only today's row of the company moves, releasing only that call's reservation
    rows = {(r.company_id, r.day): (r.spent_usd, r.reserved_usd) for r in AISpendDay.objects.all()}
    assert rows == {(company.pk, today): (Decimal("0.004"), Decimal("0.020")),
                    (company.pk, yesterday): (0, Decimal("0.010")),
                    (other_company.pk, today): (0, Decimal("0.010"))}


@pytest.mark.django_db
def test_settling_without_a_reservation_still_charges_and_the_reservation_never_goes_below_zero(company):
    # given today's row with 0.005 reserved
    today = ai_budget_day(company=company)
    AISpendDay.objects.create(company=company, day=today, reserved_usd=Decimal("0.005"))

    # when a call with no reservation settles its cost, a bare overrun is recorded, and a call releases more than
    # is left reserved (a crash lost part of the reservation)
    ai_budget_settle(company=company, day=today, reserved=Decimal(0), actual=Decimal("0.5"))
    ai_budget_settle(company=company, day=today, reserved=Decimal(0), actual=Decimal(0), overrun=Decimal("0.25"))
    ai_budget_settle(company=company, day=today, reserved=Decimal("0.010"), actual=Decimal(0))

    # then the cost and the overrun count, and the reservation stops at zero
    row = _day_row(company)
    assert (row.spent_usd, row.reserved_usd, row.overrun_usd) == (Decimal("0.5"), 0, Decimal("0.25"))


@pytest.mark.django_db(transaction=True)
def test_a_reservation_waits_for_calls_in_flight_only_when_asked_and_when_waiting_can_help(monkeypatch):
    # given a 0.010 cap, outside any transaction (as in a task), and sleeping recorded instead of done
    if connection.vendor != "postgresql":
        pytest.skip("the one-round-trip ledger path needs PostgreSQL")
    from chimera.ai import budget as budget_module

    company = Company.objects.create(slug="waits", name="Waits")
    budget = budget_module.Budget(cap=Decimal("0.010"), name="test cap")
    day = ai_budget_day(company=company)
    row = AISpendDay.objects.create(company=company, day=day)
    sleeps = []

    def sleep(seconds):  # while "asleep" the calls in flight settle, releasing their reservations
        sleeps.append(seconds)
        assert len(sleeps) < 50, "still waiting"
        AISpendDay.objects.filter(pk=row.pk).update(reserved_usd=0)

    monkeypatch.setattr(budget_module.time, "sleep", sleep)

    def reserve(spent, reserved, amount, **wait):
        AISpendDay.objects.filter(pk=row.pk).update(spent_usd=Decimal(spent), reserved_usd=Decimal(reserved))
        try:
            budget_module.ai_budget_reserve(company=company, day=day, amount=Decimal(amount), budget=budget, **wait)
        except BudgetExceeded:
            return "refused"
        return "reserved"

    # when the settled spend alone leaves no room: refused at once, even though calls are in flight
    assert reserve("0.009", "0.001", "0.002", wait_s=0.5) == "refused" and sleeps == []
    # when only calls in flight stand in the way but the caller does not ask to wait: refused at once
    assert reserve("0.006", "0.004", "0.002") == "refused" and sleeps == []
    # when a call costs nothing on a full day: nothing to reserve, never refused
    assert reserve("0.010", "0.001", "0") == "reserved" and sleeps == []
    row.refresh_from_db()
    assert (row.spent_usd, row.reserved_usd) == (Decimal("0.010"), Decimal("0.001"))
    # when inside a caller's transaction: never waits (it could hold the row the others need to settle)
    from django.db import transaction

    with transaction.atomic():
        assert reserve("0.006", "0.004", "0.002", wait_s=0.5) == "refused" and sleeps == []
    # when the settled spend leaves exactly room for it and the caller may wait: it waits, then reserves
    assert reserve("0.008", "0.004", "0.002", wait_s=0.5) == "reserved" and sleeps == [0.02]


@pytest.mark.django_db
def test_a_reservation_inside_a_transaction_goes_to_todays_row_only(company):
    # given yesterday's row with room left, and no row yet today (the ORM path: inside a caller's transaction)
    from chimera.ai.budget import Budget, ai_budget_reserve

    today = ai_budget_day(company=company)
    yesterday = AISpendDay.objects.create(company=company, day=today - timedelta(days=1))

    # when
    ai_budget_reserve(company=company, day=today, amount=Decimal("0.002"), budget=Budget(Decimal("0.010"), "cap"))

    # then today's row is created with the reservation; yesterday's is untouched
    yesterday.refresh_from_db()
    assert _day_row(company).reserved_usd == Decimal("0.002") and yesterday.reserved_usd == 0


@pytest.mark.django_db(transaction=True)
def test_a_reservation_waits_at_most_wait_s_and_never_starts_a_poll_that_would_pass_it(monkeypatch):
    # given calls in flight that never settle, a clock that moves only when the reservation sleeps, polls of 0.25 s
    if connection.vendor != "postgresql":
        pytest.skip("the one-round-trip ledger path needs PostgreSQL")
    from chimera.ai import budget as budget_module

    company = Company.objects.create(slug="patient", name="Patient")
    day = ai_budget_day(company=company)
    AISpendDay.objects.create(company=company, day=day, spent_usd=Decimal("0.006"), reserved_usd=Decimal("0.004"))
    clock = {"now": 100.0}
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        clock["now"] += seconds

    monkeypatch.setattr(budget_module, "RESERVE_POLL_S", 0.25)
    monkeypatch.setattr(budget_module.time, "monotonic", lambda: clock["now"])
    monkeypatch.setattr(budget_module.time, "sleep", sleep)

    # when it may wait 0.75 s
    with pytest.raises(BudgetExceeded):
        budget_module.ai_budget_reserve(company=company, day=day, amount=Decimal("0.002"),
                                        budget=budget_module.Budget(Decimal("0.010"), "cap"), wait_s=0.75)

    # then it polled three times (at 0.25, 0.5 and 0.75 s) and gave up then
    assert sleeps == [0.25, 0.25, 0.25] and clock["now"] == 100.75


@pytest.mark.django_db
def test_a_refused_reservation_names_the_cap_the_spend_and_what_the_call_needed(company):
    # given a 0.010 cap with 0.009 spent and 0.001 reserved today
    from chimera.ai.budget import Budget, ai_budget_reserve

    today = ai_budget_day(company=company)
    AISpendDay.objects.create(company=company, day=today, spent_usd=Decimal("0.009"), reserved_usd=Decimal("0.001"))

    # when a call needing 0.002 asks
    with pytest.raises(BudgetExceeded) as refused:
        ai_budget_reserve(company=company, day=today, amount=Decimal("0.002"), budget=Budget(Decimal("0.010"), "cap"))

    # then
    assert refused.value.details == {"budget": "cap", "cap_usd": "0.010", "spent_usd": "0.010000",
                                     "needed_usd": "0.002"}


def test_a_company_with_an_unknown_time_zone_counts_its_day_in_utc():
    import datetime

    import time_machine

    with time_machine.travel("2026-03-01 23:30:00+00:00", tick=False):
        assert ai_budget_day(company=Company(slug="odd", timezone="Mars/Olympus_Mons")) == datetime.date(2026, 3, 1)


# --- the cost helpers and the ledger's transaction ------------------------------------------------------------------

def test_the_cost_is_priced_per_thousand_tokens_and_rounded_to_the_micro_dollar():
    price = ModelPrice(name="m", input_per_1k=Decimal("0.0012"), output_per_1k=Decimal("0.5"))

    assert ai_cost(price=price, tokens_in=1000, tokens_out=3) == Decimal("0.0027")  # 0.0012 in + 0.0015 out
    assert ai_cost(price=price, tokens_in=1, tokens_out=0) == Decimal("0.000001")  # 0.0000012, to the nearest
    assert ai_cost(price=price, tokens_in=1, tokens_out=0, rounding=ROUND_CEILING) == Decimal("0.000002")


def test_the_estimate_counts_every_byte_and_each_message_as_tokens_and_max_tokens_as_output():
    price = ModelPrice(name="m", input_per_1k=Decimal("1"), output_per_1k=Decimal("2"))
    messages = [{"role": "system", "content": "héllo"}, {"role": "user", "content": "hi"}]

    # in: (6 bytes + 4) + (2 + 4) + 3 = 19 tokens at 1 per 1k; out: 100 at 2 per 1k
    assert ai_cost_estimate(price=price, messages=messages, max_tokens=100) == Decimal("0.219")
    # an upper bound: rounded up to the micro-dollar (7 tokens at 0.00005 per 1k = 0.00000035)
    tiny = ModelPrice(name="m", input_per_1k=Decimal("0.00005"), output_per_1k=Decimal("0"))
    assert ai_cost_estimate(price=tiny, messages=[{"content": ""}], max_tokens=0) == Decimal("0.000001")


@pytest.mark.django_db(transaction=True)
def test_the_ledger_transaction_skips_the_wal_flush_only_when_it_is_the_outermost():
    def synchronous_commit():
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            return cursor.fetchone()[0]

    with ledger_transaction():
        alone = synchronous_commit()
    after = synchronous_commit()
    with transaction.atomic():
        with ledger_transaction():
            inside_a_callers = synchronous_commit()

    assert (alone, after, inside_a_callers) == ("off", "on", "on")


@pytest.mark.django_db(transaction=True)
def test_an_unreserved_call_logged_outside_a_transaction_is_still_charged(other_company):
    # given (the one-round-trip path) today's rows of two companies, nothing reserved
    company = Company.objects.create(slug="solo", name="Solo")
    today = ai_budget_day(company=company)
    for tenant in (company, other_company):
        AISpendDay.objects.create(company=tenant, day=today)

    # when a call that reserved nothing is logged with its cost (and no overrun)
    row = AICall(company=company, task_type="quick_response", provider="alpha", status=AICall.Status.SUCCEEDED,
                 cost_usd=Decimal("0.02"))
    ai_call_record(row=row, day=today, reserved=Decimal(0), actual=Decimal("0.02"))

    # then it is charged to the company's day only, and logged
    spent = dict(AISpendDay.objects.values_list("company_id", "spent_usd"))
    assert spent == {company.pk: Decimal("0.02"), other_company.pk: 0}
    assert AICall.objects.get(company=company).cost_usd == Decimal("0.02")

    # when a call that reserved 0.5 fails (costs nothing), its reservation is released
    AISpendDay.objects.filter(company=company).update(reserved_usd=Decimal("0.5"))
    failed = AICall(company=company, task_type="quick_response", provider="alpha", status=AICall.Status.FAILED)
    ai_call_record(row=failed, day=today, reserved=Decimal("0.5"), actual=Decimal(0))
    assert AISpendDay.objects.filter(company=company).values_list("spent_usd", "reserved_usd").get() == (
        Decimal("0.02"), 0)

    # when a bare overrun (0.25) is logged, it is recorded on the day
    ai_call_record(row=AICall(company=company, task_type="quick_response", provider="alpha",
                              status=AICall.Status.SUCCEEDED),
                   day=today, reserved=Decimal(0), actual=Decimal(0), overrun=Decimal("0.25"))
    assert AISpendDay.objects.get(company=company).overrun_usd == Decimal("0.25")


@pytest.mark.django_db(transaction=True)
def test_the_call_log_is_one_query_alone_and_leaves_a_callers_transaction_flushing():
    from django.test.utils import CaptureQueriesContext

    company = Company.objects.create(slug="solo", name="Solo")
    today = ai_budget_day(company=company)
    AISpendDay.objects.create(company=company, day=today, reserved_usd=Decimal("0.5"))

    def call():
        return AICall(company=company, task_type="quick_response", provider="alpha", status=AICall.Status.SUCCEEDED)

    # when a call is logged alone, then inside a caller's transaction
    with CaptureQueriesContext(connection) as alone:
        ai_call_record(row=call(), day=today, reserved=Decimal("0.1"), actual=Decimal("0.05"))
    with transaction.atomic():
        ai_call_record(row=call(), day=today, reserved=Decimal("0.1"), actual=Decimal("0.05"))
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            callers = cursor.fetchone()[0]

    # then alone it is one round trip, and the caller's commit still waits for its flush
    assert len(alone) == 1 and callers == "on"
    assert AISpendDay.objects.values_list("spent_usd", "reserved_usd").get() == (Decimal("0.1"), Decimal("0.3"))
    assert AICall.objects.filter(company=company).count() == 2

"""SLA warnings and breaches recorded once, timers paused while waiting on the customer, CSAT after
resolution fed to the KPIs."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings as django_settings
from django.core import mail

from kpis.registry import Window
from kpis.services.ingest import metrics_compute
from support.models import SupportSettings, Ticket, TicketEvent
from support.sla_watch import csat_record, csat_token, sla_sweep
from support.tickets import Inbound, ticket_receive, ticket_reply, ticket_resolve

from ..factories import CompanyFactory, UserFactory

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # a Monday


def _open(company, at=T0, email="ada@example.com"):
    with time_machine.travel(at, tick=False):
        return ticket_receive(company=company, inbound=Inbound(email=email, subject="Help", body="Help me")).ticket


def test_warning_then_breach_each_recorded_once(company):
    # given: 120 s first-response SLA, warn at 80%
    ticket = _open(company)
    other = _open(CompanyFactory(slug="other"), at=T0 + timedelta(hours=1))

    # when
    early = sla_sweep(now=T0 + timedelta(seconds=60))
    warned = sla_sweep(now=T0 + timedelta(seconds=100))
    again = sla_sweep(now=T0 + timedelta(seconds=110))
    breached = sla_sweep(now=T0 + timedelta(seconds=121))
    repeat = sla_sweep(now=T0 + timedelta(seconds=180))

    # then
    assert early == {"warnings": 0, "first_response_breaches": 0, "resolution_breaches": 0}
    assert warned["warnings"] == 1 and again["warnings"] == 0
    assert breached["first_response_breaches"] == 1 and repeat["first_response_breaches"] == 0
    ticket.refresh_from_db()
    assert ticket.first_response_breached_at == T0 + timedelta(seconds=121) and ticket.sla_breached
    kinds = list(TicketEvent.objects.filter(ticket=ticket, kind__startswith="sla").values_list("kind", flat=True))
    assert kinds == ["sla_warning", "sla_breach"]
    other.refresh_from_db()
    assert other.first_response_breached_at is None


def test_first_response_due_follows_business_hours(company):
    SupportSettings.objects.create(company=company, business_hours={str(d): ["09:00", "17:00"] for d in range(5)})

    ticket = _open(company, at=datetime(2026, 12, 5, 12, 0, tzinfo=UTC))  # a Saturday

    assert ticket.first_response_due == datetime(2026, 12, 7, 9, 2, tzinfo=UTC)
    assert ticket.resolution_due == datetime(2026, 12, 9, 17, 0, tzinfo=UTC)  # 24 business hours: Mon-Wed


def test_a_late_reply_records_the_breach_and_waiting_pauses_resolution(company):
    ticket = _open(company)

    with time_machine.travel(T0 + timedelta(minutes=5), tick=False):
        ticket_reply(ticket=ticket, user=UserFactory(), body="Sorry for the wait")
    ticket.refresh_from_db()
    assert ticket.first_response_breached_at == T0 + timedelta(minutes=5)
    assert ticket.waiting_since == T0 + timedelta(minutes=5)
    # while waiting, the resolution timer does not run out
    assert sla_sweep(now=T0 + timedelta(hours=30))["resolution_breaches"] == 0

    # the customer answers 10 hours later: the due time moves by the 10 hours spent waiting
    with time_machine.travel(T0 + timedelta(minutes=5, hours=10), tick=False):
        ticket_receive(company=company, inbound=Inbound(email="ada@example.com", subject=f"Re: {ticket.reference}",
                                                        body="Still broken"))
    ticket.refresh_from_db()
    assert ticket.waiting_since is None
    assert ticket.resolution_due == T0 + timedelta(hours=34)


def test_resolution_sends_one_csat_survey_and_the_rating_reaches_the_kpis(company, django_capture_on_commit_callbacks):
    # given
    company.support_email = "help@acme.test"
    company.save()
    ticket = _open(company)
    with django_capture_on_commit_callbacks(execute=True):
        with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
            ticket_reply(ticket=ticket, user=UserFactory(), body="Fixed it")
    mail.outbox.clear()

    # when
    with django_capture_on_commit_callbacks(execute=True):
        with time_machine.travel(T0 + timedelta(minutes=2), tick=False):
            ticket_resolve(ticket=ticket)
    survey = mail.outbox[-1]
    rated = csat_record(token=csat_token(ticket=ticket), score="4")

    # then
    assert "How did we do?" in survey.subject and "score=5" in survey.body and survey.to == ["ada@example.com"]
    assert rated.csat_score == 4
    [values] = metrics_compute(company=company, windows=[Window(start=T0 - timedelta(days=1),
                                                                end=T0 + timedelta(days=1))])
    assert str(values["support.csat_avg"]) == "4.0000"


def test_csat_page_rejects_bad_links_and_scores(client, company):
    ticket = _open(company)
    Ticket.objects.filter(pk=ticket.pk).update(status=Ticket.Status.RESOLVED)

    assert client.get("/support/csat/forged/?score=5").status_code == 404
    assert client.get(f"/support/csat/{csat_token(ticket=ticket)}/?score=9").status_code == 400
    assert client.get(f"/support/csat/{csat_token(ticket=ticket)}/?score=5").status_code == 200
    assert Ticket.objects.get(pk=ticket.pk).csat_score == 5


def test_sla_sweep_is_on_the_beat_schedule():
    assert django_settings.CELERY_BEAT_SCHEDULE["support-sla-sweep"]["task"] == "support.tasks.sla_sweep_task"

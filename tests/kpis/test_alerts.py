"""Alerts: once on the transition into CRITICAL, once on recovery; delivered to Slack and the owners."""

import socket
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from autonomax.models import Role
from kpis.models import Alert, AlertDelivery, KPIEvaluation, KPIStatus
from kpis.services import kpis_evaluate
from kpis.services.alerts import MAX_ATTEMPTS
from tests.factories import MembershipFactory

from .factories import KPIDefinitionFactory, MetricSnapshotFactory
from .slack_server import SlackWebhookServer

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def kpi(company):
    MembershipFactory(company=company, role=Role.OWNER, user__email="owner@example.com")
    MembershipFactory(company=company, role=Role.VIEWER, user__email="viewer@example.com")
    return KPIDefinitionFactory(company=company, key="revenue", label="Net revenue", unit="USD")


def cycle(company, kpi, value, minute, *, callbacks, send_alerts=True):
    """One evaluation at NOW + minute with a fresh snapshot of `value`, running on-commit work."""
    at = NOW + timedelta(minutes=minute)
    MetricSnapshotFactory(company=company, metric=kpi.metric, value=Decimal(value), at=at)
    with callbacks(execute=True):
        [evaluation] = kpis_evaluate(company=company, now=at, send_alerts=send_alerts)
    return evaluation


def test_alert_fires_once_on_transition_and_once_on_recovery(company, kpi, settings, mailoutbox,
                                                             django_capture_on_commit_callbacks):
    with SlackWebhookServer() as slack:
        settings.SLACK_WEBHOOK_URL = slack.url
        # given an OK KPI
        cycle(company, kpi, "120", 0, callbacks=django_capture_on_commit_callbacks)
        # when it goes CRITICAL and stays there for two more cycles
        for minute in (15, 30, 45):
            cycle(company, kpi, "50", minute, callbacks=django_capture_on_commit_callbacks)
        # then one alert went to Slack and to the owner only
        assert [m["text"] for m in slack.messages] == [
            "CRITICAL: Net revenue is 50 USD (target 100, warning 100, critical 80, 7-day window): "
            "50 is below the critical threshold 80."]
        assert [(m.to, m.subject) for m in mailoutbox] == [
            (["owner@example.com"], "[Acme Digital] CRITICAL: Net revenue")]
        assert slack.messages[0]["text"] in mailoutbox[0].body and "/kpis/revenue/" in mailoutbox[0].body
        # when it recovers to WARNING, then OK
        cycle(company, kpi, "90", 60, callbacks=django_capture_on_commit_callbacks)
        cycle(company, kpi, "150", 75, callbacks=django_capture_on_commit_callbacks)
    # then recovery was said once
    assert len(slack.messages) == 2 and slack.messages[1]["text"].startswith("Resolved: Net revenue is back to WARNING")
    assert len(mailoutbox) == 2
    assert list(Alert.objects.filter(kpi=kpi).order_by("created_at").values_list("kind", flat=True)) == [
        "triggered", "resolved"]
    assert set(AlertDelivery.objects.values_list("status", "attempts")) == {("sent", 1)}


def test_unknown_neither_resolves_nor_retriggers(company, kpi, settings, mailoutbox,
                                                 django_capture_on_commit_callbacks):
    # given a KPI that went CRITICAL
    cycle(company, kpi, "50", 0, callbacks=django_capture_on_commit_callbacks)
    # when its data goes stale (UNKNOWN) and it comes back CRITICAL
    with django_capture_on_commit_callbacks(execute=True):
        [unknown] = kpis_evaluate(company=company, now=NOW + timedelta(hours=3))
    cycle(company, kpi, "50", 200, callbacks=django_capture_on_commit_callbacks)
    # then there was only the first alert
    assert unknown.status == KPIStatus.UNKNOWN
    assert Alert.objects.count() == 1 and len(mailoutbox) == 1


def test_dry_run_sends_nothing(company, kpi, mailoutbox, django_capture_on_commit_callbacks):
    # when
    evaluation = cycle(company, kpi, "50", 0, callbacks=django_capture_on_commit_callbacks, send_alerts=False)
    # then the evaluation is stored, no alert exists or was sent
    assert evaluation.status == KPIStatus.CRITICAL and KPIEvaluation.objects.count() == 1
    assert Alert.objects.count() == 0 and mailoutbox == []
    # and the next real cycle still alerts
    cycle(company, kpi, "50", 15, callbacks=django_capture_on_commit_callbacks)
    assert Alert.objects.count() == 1


def test_slack_server_error_is_retried_until_sent(company, kpi, settings, mailoutbox,
                                                  django_capture_on_commit_callbacks):
    with SlackWebhookServer(statuses=[500, 503]) as slack:
        settings.SLACK_WEBHOOK_URL = slack.url
        # when
        cycle(company, kpi, "50", 0, callbacks=django_capture_on_commit_callbacks)
    # then the third attempt got through
    delivery = AlertDelivery.objects.get(channel="slack")
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("sent", 3, "")
    assert len(slack.messages) == 1


def test_unreachable_slack_fails_the_delivery_not_the_cycle(company, kpi, settings, mailoutbox,
                                                            django_capture_on_commit_callbacks):
    # given a webhook URL where nothing listens
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.SLACK_WEBHOOK_URL = f"http://127.0.0.1:{port}/hook"
    # when
    evaluation = cycle(company, kpi, "50", 0, callbacks=django_capture_on_commit_callbacks)
    # then the cycle finished, email went out, and Slack is marked failed after every retry
    assert evaluation.status == KPIStatus.CRITICAL
    slack = AlertDelivery.objects.get(channel="slack")
    assert (slack.status, slack.attempts) == ("failed", MAX_ATTEMPTS)
    assert "slack:" in slack.last_error
    assert AlertDelivery.objects.get(channel="email").status == "sent" and len(mailoutbox) == 1


def test_slack_rejecting_the_request_is_not_retried(company, kpi, settings, django_capture_on_commit_callbacks):
    with SlackWebhookServer(statuses=[404]) as slack:
        settings.SLACK_WEBHOOK_URL = slack.url
        # when
        cycle(company, kpi, "50", 0, callbacks=django_capture_on_commit_callbacks)
    # then
    delivery = AlertDelivery.objects.get(channel="slack")
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert "404" in delivery.last_error

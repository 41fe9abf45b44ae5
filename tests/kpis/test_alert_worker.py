"""Alert delivery end to end: the cycle enqueues on commit, a real Celery worker on Redis delivers."""

from decimal import Decimal

import pytest
from django.utils import timezone

from autonomax.models import Role
from kpis.models import AlertDelivery
from kpis.services import kpis_evaluate
from tests.conftest import wait_for
from tests.factories import CompanyFactory, MembershipFactory

from .factories import KPIDefinitionFactory, MetricSnapshotFactory
from .slack_server import SlackWebhookServer

pytestmark = pytest.mark.integration


@pytest.fixture
def slack(monkeypatch, settings):
    # Set before the worker starts so its process inherits the webhook URL.
    with SlackWebhookServer(statuses=[503]) as server:
        monkeypatch.setenv("SLACK_WEBHOOK_URL", server.url)
        settings.SLACK_WEBHOOK_URL = server.url
        yield server


def test_worker_delivers_slack_after_a_retry_and_email_to_owners(slack, celery_worker_process):
    # given a KPI that goes CRITICAL, with an owner to email
    company = CompanyFactory(slug="worker-co", name="Worker Co")
    MembershipFactory(company=company, role=Role.OWNER, user__email="boss@example.com")
    KPIDefinitionFactory(company=company, key="revenue", label="Revenue")
    MetricSnapshotFactory(company=company, value=Decimal("10"))
    # when the cycle evaluates (committing, so the tasks go to Redis)
    kpis_evaluate(company=company, now=timezone.now())
    # then the worker delivers both; Slack answered 503 once and was retried
    wait_for(lambda: AlertDelivery.objects.filter(status="sent").count() == 2, timeout=60,
             message=f"both deliveries sent; worker log:\n{celery_worker_process['log'].read_text()[-2000:]}")
    slack_delivery = AlertDelivery.objects.get(channel="slack")
    assert slack_delivery.attempts == 2
    assert [m["text"][:25] for m in slack.messages] == ["CRITICAL: Revenue is 10 ("]
    mails = list(celery_worker_process["email_dir"].iterdir())
    assert len(mails) == 1
    text = mails[0].read_text()
    assert "To: boss@example.com" in text and "Subject: [Worker Co] CRITICAL: Revenue" in text

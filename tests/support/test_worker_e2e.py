"""End to end with a real Celery worker on Redis: inbound email -> grounded auto-answer in the outbox within
the first-response SLA; low confidence -> escalated with context; no bot reply after a person's reply, even
when the bot's task was already queued."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from commerce.models import DownloadGrant, Order
from support import tasks
from support.inbound import email_signature
from support.knowledge import article_save
from support.models import Ticket
from support.tickets import ticket_reply
from tests.conftest import wait_for

from ..factories import CompanyFactory, CustomerFactory, OrderFactory, OrderItemFactory, ProductFactory, UserFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
SECRET = "whsec-e2e"


def _mails(worker) -> str:
    return "".join(p.read_text() for p in worker["email_dir"].iterdir())


def _send(client, **payload):
    raw = json.dumps({"to": ["help@acme.test"], **payload}).encode()
    return client.post("/webhooks/email/", raw, content_type="application/json",
                       HTTP_X_AUTONOMAX_SIGNATURE=email_signature(raw_body=raw, secret=SECRET))


@pytest.fixture
def shop(settings, celery_worker_process):
    settings.SUPPORT_EMAIL_WEBHOOK_SECRET = SECRET
    company = CompanyFactory(slug="acme", name="Acme", support_email="help@acme.test")
    CompanyFactory(slug="other", support_email="help@other.test")
    customer = CustomerFactory(company=company, email="ada@example.com", name="Ada")
    order = OrderFactory(company=company, customer=customer, status=Order.Status.FULFILLED, channel="stripe",
                         payment_intent_id="pi_e2e", total=Decimal("19.00"), fulfilled_at=timezone.now())
    product = ProductFactory(company=company, name="Budget Planner")
    OrderItemFactory(order=order, product=product)
    DownloadGrant.objects.create(company=company, order=order, product=product,
                                 expires_at=timezone.now() + timedelta(days=20))
    article_save(company=company, title="Invoices and VAT", body="Every receipt email includes a PDF invoice.")
    return {"company": company, "order": order, "worker": celery_worker_process}


def test_inbound_email_gets_a_grounded_auto_answer_within_the_sla(client, shop):
    response = _send(client, message_id="<e2e-1@mail.test>", subject="Where is my download?",
                     **{"from": {"email": "ada@example.com", "name": "Ada"}},
                     text="I paid yesterday but cannot find my download link.")
    assert response.status_code == 201, response.content
    ticket_id = response.json()["ticket"]

    wait_for(lambda: "Budget Planner" in _mails(shop["worker"]), timeout=60, message="the bot's answer email")

    ticket = Ticket.objects.get(pk=ticket_id)
    assert ticket.status == Ticket.Status.AUTO_ANSWERED
    assert ticket.first_response_at - ticket.created_at < timedelta(seconds=120)
    mails = _mails(shop["worker"])
    assert f"#{shop['order'].pk}" in mails and ticket.reference in mails and "In-Reply-To: <e2e-1@mail.test>" in mails


def test_low_confidence_is_escalated_with_context(client, shop):
    response = _send(client, message_id="<e2e-2@mail.test>", subject="Invoice question",
                     **{"from": "Bob <bob@example.com>"}, text="How do I get an invoice? What about VAT numbers?")
    ticket_id = response.json()["ticket"]

    ticket = wait_for(lambda: Ticket.objects.filter(pk=ticket_id, status=Ticket.Status.ESCALATED).first(),
                      timeout=60, message="the escalation")

    assert ticket.escalation_context["intent"] == "faq" and ticket.escalation_context["passages"]
    assert ticket.answer_confidence < 0.85 and not ticket.messages.filter(author="bot").exists()


def test_no_bot_reply_when_a_person_replies_while_the_bot_task_is_queued(shop):
    # given: an order question the bot would answer, its task waiting in the broker
    company = shop["company"]
    ticket = Ticket.objects.create(company=company, subject="Where is my download?", customer_email="ada@example.com",
                                   created_at=timezone.now(), first_response_due=timezone.now() + timedelta(minutes=2))
    ticket.messages.create(author="customer", body="I paid but cannot find my download link.",
                           created_at=timezone.now())
    queued = tasks.ticket_pipeline_task.apply_async((ticket.pk,), queue="ai", countdown=2)

    # when a person replies before it runs
    ticket_reply(ticket=ticket, user=UserFactory(), body="A person answers.")

    # then the task ran and the bot said nothing
    wait_for(lambda: f"ticket_pipeline_task[{queued.id}] succeeded" in shop["worker"]["log"].read_text(),
             timeout=60, message="the queued bot task to run")
    assert list(ticket.messages.values_list("author", flat=True)) == ["customer", "person"]
    assert Ticket.objects.get(pk=ticket.pk).status == Ticket.Status.WAITING_ON_CUSTOMER

"""The copilot: order questions from real order data, refunds within policy, grounded knowledge-base
answers with a numeric confidence, escalation with context, and the bot never talking over a person."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from commerce.models import DownloadGrant, Order, Refund
from support.copilot import answer_confidence, grounding_check, language_detect, ticket_process
from support.knowledge import article_save
from support.models import SupportSettings, Ticket, TicketEvent
from support.tickets import Inbound, ticket_receive, ticket_reply

from ..factories import CompanyFactory, CustomerFactory, OrderFactory, OrderItemFactory, ProductFactory, UserFactory

pytestmark = pytest.mark.django_db


def _order(company, email="ada@example.com", *, days_ago=1, total="19.00", grant=True, **kwargs):
    customer = CustomerFactory(company=company, email=email, name="Ada")
    paid = timezone.now() - timedelta(days=days_ago)
    order = OrderFactory(company=company, customer=customer, status=Order.Status.FULFILLED, channel="stripe",
                         payment_intent_id=f"pi_{customer.pk}", total=Decimal(total), created_at=paid, paid_at=paid,
                         fulfilled_at=paid, **kwargs)
    product = ProductFactory(company=company, name="Budget Planner")
    OrderItemFactory(order=order, product=product)
    if grant:
        DownloadGrant.objects.create(company=company, order=order, product=product,
                                     expires_at=timezone.now() + timedelta(days=20))
    return order


def _ticket(company, subject, body, email="ada@example.com", name="Ada Lovelace"):
    return ticket_receive(company=company, inbound=Inbound(email=email, name=name, subject=subject, body=body)).ticket


@pytest.fixture
def other_company_noise():
    other = CompanyFactory(slug="other")
    _order(other, email="ada@example.com", total="99.00")
    article_save(company=other, title="Other shop downloads", body="Our download links never expire at all.")
    return other


def test_order_status_is_answered_from_the_real_order_with_the_download_link(company, other_company_noise,
                                                                             django_capture_on_commit_callbacks):
    # given
    order = _order(company)
    ticket = _ticket(company, "Where is my download?", "I paid yesterday but cannot find my download link.")

    # when
    with django_capture_on_commit_callbacks(execute=True):
        decision = ticket_process(ticket_id=ticket.pk)

    # then
    ticket.refresh_from_db()
    assert decision.intent == "order_status" and decision.send
    assert ticket.status == Ticket.Status.AUTO_ANSWERED and ticket.first_response_at is not None
    reply = ticket.messages.get(author="bot")
    assert f"#{order.pk}" in reply.body and "Budget Planner" in reply.body
    assert "https://shop.example.com/d/" in reply.body
    assert ticket.answer_confidence >= 0.85 and reply.confidence == ticket.answer_confidence
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["ada@example.com"]
    assert TicketEvent.objects.filter(ticket=ticket, kind="confidence", data__send=True).exists()


def test_order_question_without_an_order_escalates_with_context(company, other_company_noise):
    ticket = _ticket(company, "Where is my order?", "I paid but never got the download link.", email="x@y.test")

    ticket_process(ticket_id=ticket.pk)

    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.ESCALATED and ticket.handed_off_at is not None
    assert ticket.escalation_context["reason"] == "no_order_for_email"
    assert ticket.escalation_context["orders"] == []  # the other company's order of the same email is not shown
    assert not ticket.messages.filter(author="bot").exists()


def test_refund_within_policy_is_refunded_through_commerce(company, stripe_server, other_company_noise):
    # given
    order = _order(company, total="19.00")
    ticket = _ticket(company, "Refund please", "I want a refund, I bought the wrong template.")

    # when
    decision = ticket_process(ticket_id=ticket.pk)

    # then
    assert decision.intent == "refund" and decision.send, decision
    refund = Refund.objects.get(order=order)
    assert refund.status == Refund.Status.SUCCEEDED and refund.amount == Decimal("19.00")
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.AUTO_ANSWERED
    assert "19.00" in ticket.messages.get(author="bot").body
    assert not Refund.objects.filter(order__company=other_company_noise).exists()


@pytest.mark.parametrize("days_ago, total, reason", [(30, "19.00", "refund_outside_policy"),
                                                     (1, "120.00", "refund_over_amount")])
def test_refund_outside_policy_escalates_and_refunds_nothing(company, stripe_server, days_ago, total, reason):
    _order(company, days_ago=days_ago, total=total)
    ticket = _ticket(company, "Refund please", "I want a refund for my order.")

    ticket_process(ticket_id=ticket.pk)

    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.ESCALATED and ticket.escalation_context["reason"] == reason
    assert not Refund.objects.exists() and not stripe_server.requests


def test_faq_answer_grounded_in_the_knowledge_base(company, other_company_noise):
    # given
    article_save(company=company, title="Invoices and VAT",
                 body="Every receipt email includes a PDF invoice. For a VAT invoice, reply to the receipt email "
                      "with your company name and VAT number and we send the VAT invoice the same day.")
    SupportSettings.objects.create(company=company, auto_send_threshold=0.5)
    ticket = _ticket(company, "Invoice with VAT",
                     "How do I get a VAT invoice for my company? What is the invoice format?")

    # when
    decision = ticket_process(ticket_id=ticket.pk)

    # then
    assert decision.intent == "faq" and decision.passages and decision.grounding == 1.0
    assert decision.send, decision
    reply = Ticket.objects.get(pk=ticket.pk).messages.get(author="bot")
    assert "VAT number" in reply.body


def test_low_confidence_escalates_with_passages_draft_and_orders(company):
    # given
    _order(company)
    article_save(company=company, title="Invoices and VAT",
                 body="Every receipt email includes a PDF invoice. For a VAT invoice, reply with your VAT number.")
    ticket = _ticket(company, "Invoice", "How do I get a VAT invoice? What does the invoice look like?")

    # when (default threshold 0.85)
    decision = ticket_process(ticket_id=ticket.pk)

    # then
    ticket.refresh_from_db()
    assert decision.confidence < 0.85
    assert ticket.status == Ticket.Status.ESCALATED and ticket.answer_confidence == decision.confidence
    context = ticket.escalation_context
    assert context["intent"] == "faq" and context["passages"] and context["draft"] and context["orders"]
    assert ticket.draft_answer == decision.draft
    assert not ticket.messages.filter(author="bot").exists()


def test_ai_engine_down_escalates_at_once(company, ai_down):
    ticket = _ticket(company, "Question", "How do I get a VAT invoice?")

    ticket_process(ticket_id=ticket.pk)

    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.ESCALATED
    assert ticket.escalation_context["reason"].startswith("ai_unavailable")


def test_no_bot_reply_after_a_person_replied_while_the_task_was_queued(company):
    # given: the ticket's pipeline task is queued (not yet run) ...
    _order(company)
    ticket = _ticket(company, "Where is my download?", "I paid yesterday but cannot find my download link.")
    # ... and a person answers first
    ticket_reply(ticket=ticket, user=UserFactory(), body="Here you go.")

    # when the queued task runs
    decision = ticket_process(ticket_id=ticket.pk)

    # then
    assert decision is None
    assert list(ticket.messages.values_list("author", flat=True)) == ["customer", "person"]


def test_running_the_pipeline_twice_answers_once(company):
    _order(company)
    ticket = _ticket(company, "Where is my download?", "I paid yesterday but cannot find my download link.")

    ticket_process(ticket_id=ticket.pk)
    ticket_process(ticket_id=ticket.pk)

    assert ticket.messages.filter(author="bot").count() == 1


def test_language_is_detected_and_the_answer_is_in_it(company):
    _order(company)
    ticket = _ticket(company, "Bestellung", "Wo ist meine Bestellung? Ich habe bezahlt und kann den Download nicht "
                                            "finden.")

    decision = ticket_process(ticket_id=ticket.pk)

    assert decision.language == "de"
    assert Ticket.objects.get(pk=ticket.pk).messages.get(author="bot").body.startswith("Hallo Ada,")


def test_grounding_check_and_confidence_parts():
    sources = ["Every receipt email includes a PDF invoice for your order."]

    assert grounding_check("Thanks! Every receipt email includes a PDF invoice.", sources) == (1.0, [])
    share, ungrounded = grounding_check("Every receipt email includes a PDF invoice. We also ship free posters "
                                        "worldwide tomorrow.", sources)
    assert share == 0.5 and len(ungrounded) == 1
    assert answer_confidence(intent_confidence=1, retrieval=1, grounding=1, model_confidence=1) == 1.0
    assert answer_confidence(intent_confidence=1, retrieval=1, grounding=0.5, model_confidence=1) == 0.5
    assert language_detect("Wo ist meine Bestellung? Ich habe bezahlt")[0] == "de"
    assert language_detect("¿Dónde está mi pedido? Gracias")[0] == "es"
    assert language_detect("Where is my order please")[0] == "en"

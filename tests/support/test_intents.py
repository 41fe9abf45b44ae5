"""The company's intent classifier: people's labels, versioned training on them (one company's labels only),
and its use in the copilot as fallback (AI engine down) and check (a disagreement lowers the confidence)."""

import pytest

from autonomax.models import Role
from support.copilot import ticket_process
from support.intents import IntentGuess, intent_combine, intent_model_train, intent_predict, ticket_intent_label
from support.knowledge import article_save
from support.models import IntentModel, Ticket, TicketEvent
from support.personal_data import erase_personal_data
from support.tickets import Inbound, ticket_receive

from ..factories import UserFactory, member_with_token
from .test_copilot import _order

pytestmark = pytest.mark.django_db

DOWNLOAD = ["I paid but the download link never came", "Where is my download link for the planner",
            "No download link after paying yesterday", "Please resend my download link",
            "The download link from my order is missing", "Can't find the download link I paid for",
            "Still no download link for my order", "Download link not received after purchase",
            "Lost my download link, please send again", "My order came without a download link",
            "Where do I find the download link", "Download link please, I paid this morning"]
INVOICE = ["I need an invoice with VAT for my company", "Can I get a VAT invoice", "Invoice with my company name",
           "Please send a VAT invoice for the purchase", "How do I get an invoice for my accountant",
           "Invoice needed for expenses", "Where is the VAT invoice", "My company needs an invoice with VAT ID",
           "Can you add my VAT number to the invoice", "Invoice for the order please", "Send the invoice again",
           "Tax invoice with VAT please"]


def _labelled(company, texts, intent, user, prefix):
    for n, text in enumerate(texts):
        ticket = ticket_receive(company=company, inbound=Inbound(email=f"{prefix}{n}@example.com", subject="Question",
                                                                 body=text)).ticket
        ticket_intent_label(ticket=ticket, intent=intent, user=user)


def _trained(company, download_intent="order_status"):
    """A model trained on people's labels: download-link tickets as `download_intent`, invoices as faq."""
    user = UserFactory()
    _labelled(company, DOWNLOAD, download_intent, user, "d")
    _labelled(company, INVOICE, "faq", user, "i")
    return intent_model_train(company=company).model


def test_combine_agreement_fallback_and_disagreement():
    refund = IntentGuess("refund", 0.9, 3)
    assert intent_combine(ai_intent=None, ai_confidence=0, check=refund).intent == "refund"  # AI engine down
    agree = intent_combine(ai_intent="refund", ai_confidence=0.7, check=refund)
    assert (agree.intent, agree.confidence, agree.source) == ("refund", 0.9, "ai+model")
    disagree = intent_combine(ai_intent="faq", ai_confidence=0.8, check=refund)
    assert (disagree.intent, disagree.confidence, disagree.source) == ("faq", 0.08, "ai_over_model")
    unsure = intent_combine(ai_intent="faq", ai_confidence=0.3, check=refund)
    assert (unsure.intent, unsure.confidence, unsure.source) == ("refund", 0.63, "model_over_ai")
    assert intent_combine(ai_intent="faq", ai_confidence=0.3, check=None).source == "ai"


def test_a_person_labels_the_intent_through_the_api(company, other_company):
    # given
    _, key = member_with_token(company=company, role=Role.OPERATOR)
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    ticket = ticket_receive(company=company, inbound=Inbound(email="a@example.com", subject="Hi",
                                                             body="Refund?")).ticket
    foreign = ticket_receive(company=other_company, inbound=Inbound(email="a@example.com", subject="Hi",
                                                                    body="Refund?")).ticket

    # when
    ok = api.post(f"/api/v1/tickets/{ticket.pk}/intent/", {"intent": "refund"}, format="json")
    bad = api.post(f"/api/v1/tickets/{ticket.pk}/intent/", {"intent": "gossip"}, format="json")
    other = api.post(f"/api/v1/tickets/{foreign.pk}/intent/", {"intent": "refund"}, format="json")

    # then
    assert ok.status_code == 200 and ok.json()["intent"] == "refund"
    assert bad.status_code == 400 and "intent" in bad.json()["error"]["details"]
    assert other.status_code == 404
    ticket.refresh_from_db()
    foreign.refresh_from_db()
    assert ticket.intent == "refund" and ticket.intent_labelled_at is not None
    assert foreign.intent_labelled_at is None
    event = TicketEvent.objects.get(ticket=ticket, kind=TicketEvent.Kind.INTENT)
    assert event.data == {"from": "", "to": "refund", "correction": True}


def test_training_uses_only_the_companys_labels_and_versions_only_when_labels_are_new(company, other_company):
    # given labels in both companies, too few at first
    user = UserFactory()
    _labelled(other_company, INVOICE, "faq", user, "o")
    _labelled(company, DOWNLOAD[:5], "order_status", user, "d")
    assert intent_model_train(company=company).model is None

    _labelled(company, DOWNLOAD[5:], "order_status", user, "e")
    _labelled(company, INVOICE, "faq", user, "i")

    # when
    first = intent_model_train(company=company).model
    again = intent_model_train(company=company)
    _labelled(company, ["Send my invoice with VAT once more"], "faq", user, "j")
    second = intent_model_train(company=company).model

    # then
    assert first.version == 1 and first.trained_on == 24 and set(first.labels) == {"faq", "order_status"}
    assert 0 <= first.metrics["accuracy"] <= 1 and first.metrics["labels"] == {"faq": 12, "order_status": 12}
    assert again.model is None and "no new labels" in again.reason
    assert second.version == 2 and second.trained_on == 25
    assert not IntentModel.objects.filter(company=other_company).exists()
    guess = intent_predict(company=company, text="Where is my download link?")
    assert guess.intent == "order_status" and guess.version == 2 and 0.5 < guess.confidence <= 1


def test_ai_engine_down_order_question_is_answered_with_the_models_intent(company, ai_down):
    # given a trained model and a paid order
    _trained(company)
    order = _order(company)
    ticket = ticket_receive(company=company, inbound=Inbound(email="ada@example.com", subject="Download",
                                                             body="I paid but the download link never came")).ticket

    # when
    decision = ticket_process(ticket_id=ticket.pk)

    # then: the order facts need no AI engine
    ticket.refresh_from_db()
    assert decision.intent_source == "model" and decision.intent == "order_status"
    assert ticket.status == Ticket.Status.AUTO_ANSWERED and f"#{order.pk}" in ticket.messages.get(author="bot").body


def test_ai_engine_down_knowledge_question_still_escalates_at_once(company, ai_down):
    _trained(company)
    article_save(company=company, title="Invoices and VAT", body="Every receipt email includes a VAT invoice.")
    ticket = ticket_receive(company=company, inbound=Inbound(email="ada@example.com", subject="Invoice",
                                                             body="Can I get a VAT invoice?")).ticket

    ticket_process(ticket_id=ticket.pk)

    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.ESCALATED
    assert ticket.escalation_context["reason"].startswith("ai_unavailable")


def test_disagreement_with_the_model_lowers_the_confidence_and_escalates(company):
    # given a model that learned (from people's labels) that download-link tickets are refunds here
    _trained(company, download_intent="refund")
    _order(company)
    ticket = ticket_receive(company=company, inbound=Inbound(email="ada@example.com", subject="Where is my download?",
                                                             body="I paid yesterday but cannot find my download link.")
                            ).ticket

    # when
    decision = ticket_process(ticket_id=ticket.pk)

    # then: the AI engine says order_status, the model says refund: no auto-send
    assert decision.intent_ai["intent"] == "order_status" and decision.intent_check["intent"] == "refund"
    assert decision.intent_source == "ai_over_model" and decision.intent_confidence < decision.intent_ai["confidence"]
    assert not decision.send
    assert Ticket.objects.get(pk=ticket.pk).status == Ticket.Status.ESCALATED


def test_erasing_a_labelled_customer_drops_the_models_trained_on_their_words(company, other_company):
    # given
    _trained(company)
    _trained(other_company)

    # when
    counts = erase_personal_data(company, "d0@example.com")

    # then
    assert counts["intent_models"] == 1
    assert not IntentModel.objects.filter(company=company).exists()
    assert IntentModel.objects.filter(company=other_company).count() == 1

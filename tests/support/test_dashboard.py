"""The inbox: escalations first with SLA countdowns, the thread with the bot's context, reply, assign,
macros; the knowledge-base editor. Scoped to the company in view."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from autonomax.models import Role
from support.models import KnowledgeArticle, Macro, Ticket

from ..factories import CompanyFactory, MembershipFactory, TicketFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client, company):
    membership = MembershipFactory(company=company, role=Role.OPERATOR)
    client.force_login(membership.user)
    return membership


def test_inbox_lists_escalations_first_with_countdowns_and_hides_other_companies(client, operator, company,
                                                                                 django_assert_max_num_queries):
    now = timezone.now()
    soon = TicketFactory(company=company, subject="Due soon", first_response_due=now + timedelta(seconds=90))
    late = TicketFactory(company=company, subject="Escalated one", status=Ticket.Status.ESCALATED,
                         first_response_due=now - timedelta(minutes=5))
    TicketFactory(company=CompanyFactory(slug="other"), subject="Foreign ticket")

    # the countdown is read at the same instant, however slow the machine
    with django_assert_max_num_queries(10), time_machine.travel(now, tick=False):
        response = client.get("/support/")

    assert response.status_code == 200
    rows = [r["ticket"].pk for r in response.context["rows"]]
    assert rows == [late.pk, soon.pk]
    assert b"Foreign ticket" not in response.content
    assert b"first response 1m" in response.content and b"breached" in response.content


def test_ticket_page_shows_draft_context_and_a_macro_fills_the_reply(client, operator, company):
    ticket = TicketFactory(company=company, status=Ticket.Status.ESCALATED, draft_answer="Draft from the bot",
                           escalation_context={"reason": "low_confidence", "confidence": 0.6, "threshold": 0.85,
                                               "passages": [{"title": "Refunds", "text": "14 days", "score": 0.2,
                                                             "coverage": 0.5}], "orders": []})
    macro = Macro.objects.create(company=company, intent="refund", title="Refund macro", body="Macro text here")

    page = client.get(f"/support/tickets/{ticket.pk}/")
    with_macro = client.get(f"/support/tickets/{ticket.pk}/?macro={macro.pk}")

    assert page.status_code == 200
    assert b"Draft from the bot" in page.content and b"low_confidence" in page.content and b"Refunds" in page.content
    assert b"Macro text here" in with_macro.content


def test_reply_and_assign_from_the_ticket_page(client, operator, company):
    ticket = TicketFactory(company=company)

    client.post(f"/support/tickets/{ticket.pk}/", {"action": "assign", "assignee": operator.user.pk})
    client.post(f"/support/tickets/{ticket.pk}/", {"action": "reply", "body": "Edited answer"})

    ticket.refresh_from_db()
    assert ticket.assignee == operator.user and ticket.status == Ticket.Status.WAITING_ON_CUSTOMER
    assert ticket.messages.get().body == "Edited answer"


def test_viewer_cannot_reply_and_foreign_ticket_is_404(client, company):
    viewer = MembershipFactory(company=company, role=Role.VIEWER)
    client.force_login(viewer.user)
    ticket = TicketFactory(company=company)
    foreign = TicketFactory(company=CompanyFactory(slug="other"))

    client.post(f"/support/tickets/{ticket.pk}/", {"action": "reply", "body": "nope"})

    assert not ticket.messages.exists()
    assert client.get(f"/support/tickets/{foreign.pk}/").status_code == 404


def test_knowledge_editor_saves_and_rejects_blank(client, operator, company):
    ok = client.post("/support/kb/", {"title": "Licences", "body": "One licence per person.\n\nTeams buy a pack.",
                                      "language": "en", "is_published": "on"})
    bad = client.post("/support/kb/", {"title": "", "body": ""})

    assert ok.status_code == 302
    article = KnowledgeArticle.objects.get()
    assert article.company == company and article.passages.count() == 2
    assert bad.status_code == 400 and KnowledgeArticle.objects.count() == 1

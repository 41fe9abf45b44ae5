"""Articles edited in the admin go through article_save (split and indexed); the ticket pages open."""

import pytest

from autonomax.models import Role
from support.knowledge import kb_search
from support.models import KnowledgeArticle

from ..factories import CompanyFactory, MembershipFactory, TicketFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client):
    membership = MembershipFactory(company=CompanyFactory(slug="alpha"), role=Role.OPERATOR, user__is_staff=True)
    client.force_login(membership.user)
    return membership


def test_an_article_added_in_the_admin_is_searchable(client, operator):
    response = client.post("/admin/support/knowledgearticle/add/", {
        "company": operator.company.pk, "title": "Invoices", "language": "en", "is_published": "on",
        "body": "Invoices are emailed with the receipt.\n\nFor a company invoice, reply with your VAT number."})

    assert response.status_code == 302, response.content[:2000]
    article = KnowledgeArticle.objects.get()
    assert article.passages.count() == 2
    assert kb_search(company=operator.company, query="VAT number invoice")[0].article_id == article.pk


def test_ticket_and_article_pages_open(client, operator):
    ticket = TicketFactory(company=operator.company)

    for path in ("/admin/support/ticket/", f"/admin/support/ticket/{ticket.pk}/change/",
                 "/admin/support/knowledgearticle/", "/admin/support/macro/", "/admin/support/supportsettings/"):
        assert client.get(path).status_code == 200, path

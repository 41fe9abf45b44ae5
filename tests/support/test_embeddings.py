"""Optional embedding retrieval: with the model package installed (requirements-embeddings.txt) passages are
ranked by meaning; without it, or with no stored vectors, retrieval is full text (the floor)."""

import pytest

from support.embeddings import embeddings_available
from support.knowledge import article_save, kb_search

pytestmark = pytest.mark.django_db

INVOICES = ("Invoices and VAT", "Every receipt email includes a PDF invoice. For a VAT invoice with your company "
            "name, reply to the receipt email with your company name and VAT number.")
NOTION = ("Duplicating Notion templates", "Open the link while logged in to Notion and press Duplicate at the top "
          "right; the template is copied into your own workspace.")


@pytest.mark.skipif(not embeddings_available(),
                    reason="embedding retrieval is optional: pip install -r requirements-embeddings.txt")
def test_embeddings_rank_the_passage_that_means_the_question(company, other_company, settings):
    # given
    settings.SUPPORT_RETRIEVAL = "embeddings"
    for title, body in (INVOICES, NOTION):
        article_save(company=company, title=title, body=body)
    article_save(company=other_company, title="Other shop invoices", body="We never send invoices.")

    # when: no word of the question is in the right passage but "company"
    hits = kb_search(company=company, query="My accountant wants a proper bill with our tax number on it")

    # then
    assert hits[0].title == "Invoices and VAT" and 0 < hits[0].score <= 1
    assert {h.title for h in hits} <= {INVOICES[0], NOTION[0]}


@pytest.mark.skipif(embeddings_available(), reason="checks the fallback when the model package is not installed")
def test_without_the_model_package_embeddings_fall_back_to_full_text(company, settings):
    # given
    settings.SUPPORT_RETRIEVAL = "embeddings"
    article_save(company=company, title=INVOICES[0], body=INVOICES[1])

    # when
    hits = kb_search(company=company, query="How do I get a VAT invoice?")

    # then
    assert hits and hits[0].title == "Invoices and VAT"
    assert hits == kb_search(company=company, query="How do I get a VAT invoice?", method="fulltext")

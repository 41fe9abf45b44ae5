"""The labelled set (tests/support/fixtures/labelled_tickets.jsonl, 3 languages, 6 intents) through the
real copilot with the offline AI provider: intent accuracy, and the auto-send precision and coverage at the
default threshold 0.85. The figures are printed; the floors guard against regressions."""

import json

import pytest

from .labelled import company_prepare, evaluate, labelled_rows

pytestmark = pytest.mark.django_db


def test_labelled_set_has_at_least_200_tickets_in_several_languages():
    rows = labelled_rows()
    assert len(rows) >= 200
    assert {r["language"] for r in rows} >= {"en", "de", "es"}
    assert {r["intent"] for r in rows} == {"faq", "order_status", "refund", "tech_support", "sales", "other"}


def test_labelled_set_accuracy_precision_and_coverage(company, stripe_server, capsys):
    # given a company with the knowledge base the set expects (and another company's data present)
    from ..factories import CompanyFactory

    company_prepare(CompanyFactory(slug="other"))
    articles = company_prepare(company)

    # when
    report = evaluate(company, labelled_rows(), articles)

    # then
    summary = {k: v for k, v in report.items() if k != "results"}
    with capsys.disabled():
        print("\nlabelled set:", json.dumps(summary, indent=1))
    assert report["intent_accuracy"] >= 0.8
    assert report["precision"] is not None and report["precision"] >= 0.95
    assert report["coverage"] >= 0.3

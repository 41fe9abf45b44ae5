"""Lead hand-offs feed the consulting stream: the orders page counts them, their outcomes, and a sale a person
worked on before it was paid as a person's step (issue 17)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from autonomax.models import Role
from commerce.models import IncomeStream
from commerce.selectors import income_stream_automation
from growth.models import HandoffTask
from tests.factories import CustomerFactory, LeadFactory, MembershipFactory, OrderFactory

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def handoff(company, email, *, days_ago, status=HandoffTask.Status.OPEN):
    lead = LeadFactory(company=company, email=email, created_at=NOW - timedelta(days=days_ago + 1))
    return HandoffTask.objects.create(
        company=company, lead=lead, threshold=60, score=75, title=f"Consulting hand-off: {email}", status=status,
        created_at=NOW - timedelta(days=days_ago),
        closed_at=None if status == HandoffTask.Status.OPEN else NOW - timedelta(days=days_ago - 1))


def consulting_order(company, stream, email, *, days_ago):
    customer = CustomerFactory(company=company, email=email)
    at = NOW - timedelta(days=days_ago)
    return OrderFactory(company=company, customer=customer, income_stream=stream, total=Decimal("120"),
                        created_at=at, paid_at=at, fulfilled_at=at + timedelta(minutes=1))


@pytest.fixture
def consulting(company, other_company):
    """Five hot leads handed off this month, four consulting sales; the other company sold to the same
    address after its own hand-off."""
    stream = IncomeStream.objects.create(company=company, kind="consulting", name="Consulting")
    handoff(company, "ada@example.com", days_ago=10, status=HandoffTask.Status.DONE)  # a person worked it ...
    consulting_order(company, stream, "ada@example.com", days_ago=5)  # ... then Ada bought
    handoff(company, "bo@example.com", days_ago=10, status=HandoffTask.Status.DISMISSED)  # set aside ...
    consulting_order(company, stream, "bo@example.com", days_ago=5)  # ... and Bo bought alone
    consulting_order(company, stream, "cy@example.com", days_ago=4)  # never handed off
    handoff(company, "di@example.com", days_ago=2)  # waiting for a person, no sale
    consulting_order(company, stream, "ed@example.com", days_ago=8)  # bought first ...
    handoff(company, "ed@example.com", days_ago=3)  # ... handed off later
    theirs = IncomeStream.objects.create(company=other_company, kind="consulting", name="Theirs")
    handoff(other_company, "cy@example.com", days_ago=12, status=HandoffTask.Status.DONE)
    consulting_order(other_company, theirs, "cy@example.com", days_ago=4)
    return company


def test_a_sale_a_person_worked_on_is_not_automated_and_the_handoffs_are_counted(consulting):
    # when
    [row] = income_stream_automation(company=consulting, since=NOW - timedelta(days=30))
    # then Ada's sale needed a person; Bo's (dismissed), Cy's (none) and Ed's (hand-off after the sale) did not
    assert (row["kind"], row["orders"], row["automated"], row["actual_pct"], row["target_pct"]) == (
        "consulting", 4, 3, 75.0, 50)
    [handoffs] = row["inputs"]
    assert handoffs.counts == {"total": 4, "won": 1, "open": 2, "done": 1, "dismissed": 1}
    assert handoffs.summary == "4 lead hand-offs to a person (2 open, 1 done, 1 dismissed); 1 led to an order"


def test_the_orders_page_shows_what_fed_the_consulting_stream(consulting, client):
    membership = MembershipFactory(company=consulting, role=Role.VIEWER)
    client.force_login(membership.user)
    with time_machine.travel(NOW, tick=False):
        page = client.get("/commerce/orders/").content.decode()
    assert '<tr data-stream="consulting"><td>Consulting</td><td>4</td><td>3</td><td>75.0%</td><td>50%</td>' in page
    assert "4 lead hand-offs to a person (2 open, 1 done, 1 dismissed); 1 led to an order" in page


def test_handoffs_without_a_sale_yet_show_the_stream_with_no_level(company, other_company):
    # given a consulting stream with no order this month, and one hand-off
    IncomeStream.objects.create(company=company, kind="consulting", name="Consulting")
    handoff(company, "ada@example.com", days_ago=1)
    # when
    [row] = income_stream_automation(company=company, since=NOW - timedelta(days=30))
    # then
    assert (row["orders"], row["automated"], row["actual_pct"]) == (0, 0, None)
    assert row["inputs"][0].summary == "1 lead hand-off to a person (1 open, 0 done, 0 dismissed); 0 led to an order"
    assert income_stream_automation(company=other_company, since=NOW - timedelta(days=30)) == []

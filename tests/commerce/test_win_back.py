"""The issue's done-when for the win-back play: approving it creates a real discount code, emails only the
consenting lapsed customers, and a checkout with that code gets the discount (the local Stripe server)."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from autonomax.models import Role
from chimera.commander.models import Job
from chimera.commander.services.jobs import job_run
from chimera.commander.services.missions import mission_approve
from commerce.models import CustomerConsent, Discount, DiscountRedemption, Order
from growth.models import EmailDelivery, Unsubscribe
from tests.commander.factories import load_playbook, propose
from tests.factories import CustomerConsentFactory, CustomerFactory, MembershipFactory, OrderFactory

from .factories import digital_product, post_stripe, stripe_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(company):
    """A catalog, four customers who last bought 60 days ago: two consenting, one never asked, one who
    consented and then unsubscribed; and another company's consenting lapsed customer."""
    load_playbook(company)
    product = digital_product(company=company, price=Decimal("20.00"))
    ago = timezone.now() - timedelta(days=60)
    people = {}
    for email, name in [("lee@example.com", "Lee"), ("kim@example.com", "Kim"), ("never@example.com", "Nev"),
                        ("gone@example.com", "Gon")]:
        people[email] = CustomerFactory(company=company, email=email, name=name)
        OrderFactory(company=company, customer=people[email], created_at=ago)
    for email in ("lee@example.com", "kim@example.com", "gone@example.com"):
        CustomerConsentFactory(customer=people[email], recorded_at=ago)
    Unsubscribe.objects.create(company=company, email="gone@example.com")
    other = CustomerFactory(email="lee@example.com")
    CustomerConsentFactory(customer=other)
    OrderFactory(company=other.company, customer=other, created_at=ago)
    return product


def _approve_win_back(company):
    owner = MembershipFactory(company=company, role=Role.OWNER).user
    mission = mission_approve(mission=propose(company, "win-back-email"), actor=owner)
    return mission, mission.jobs.order_by("order").first()


def test_approving_win_back_creates_the_code_emails_consenting_customers_and_checkout_honours_it(
        client, company, shop, stripe_server, django_capture_on_commit_callbacks):
    # when the owner approves the play and its job runs
    mission, job = _approve_win_back(company)
    assert job_run(job_id=job.pk) == "done"

    # then a real discount exists, in Stripe too, tied to the mission
    discount = Discount.objects.get(company=company)
    assert discount.code.startswith("WELCOMEBACK-") and discount.percent_off == Decimal("15.00")
    assert discount.correlation_id == str(mission.correlation_id)
    assert discount.stripe_promotion_code_id in stripe_server.promotion_codes
    assert discount.valid_until > timezone.now() + timedelta(days=13)
    # and only the consenting, subscribed customers got the email, with that code
    assert sorted(m.to[0] for m in mail.outbox) == ["kim@example.com", "lee@example.com"]
    message = next(m for m in mail.outbox if m.to == ["lee@example.com"])
    assert f"15% off with code {discount.code} until {discount.valid_until.date().isoformat()}" in message.body
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    job.refresh_from_db()
    assert job.result["discount_code"] == discount.code and job.result["sent"] == 2

    # when Lee uses the code from the email on the landing page
    code = re.search(r"code (\S+) until", message.body).group(1)
    response = client.post(f"/p/{shop.slug}/buy/", {"email": "lee@example.com", "discount_code": code})

    # then Stripe Checkout charges 17.00 instead of 20.00
    assert response.status_code == 302
    order = Order.objects.get(company=company, status=Order.Status.PENDING)
    session = stripe_server.sessions[order.external_id]
    assert session["amount_total"] == 1700 and order.total == Decimal("17.00")

    # and when Stripe reports the payment, the redemption is evidence for the mission
    event = stripe_event("checkout.session.completed", event_id="evt_wb_1", obj={
        "id": session["id"], "metadata": session["metadata"], "payment_intent": "pi_wb",
        "amount_total": session["amount_total"], "total_details": session["total_details"],
        "payment_status": "paid", "customer_details": {"email": "lee@example.com"}})
    with django_capture_on_commit_callbacks(execute=True):
        assert post_stripe(client, event).status_code == 200
    redemption = DiscountRedemption.objects.get()
    assert redemption.discount.correlation_id == str(mission.correlation_id)
    assert redemption.amount == Decimal("3.00")


def test_a_rerun_of_the_job_makes_no_second_code_and_no_second_email(company, shop, stripe_server):
    # given the job ran once
    mission, job = _approve_win_back(company)
    job_run(job_id=job.pk)
    sent = len(mail.outbox)

    # when it is delivered again as if the worker died before acking
    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING)
    job_run(job_id=job.pk)

    # then
    assert Discount.objects.filter(company=company).count() == 1 and len(stripe_server.promotion_codes) == 1
    assert len(mail.outbox) == sent == 2


def test_stripe_down_sends_nothing_and_keeps_no_code(company, shop, stripe_server):
    # given Stripe refuses the coupon
    stripe_server.fail_next = [(500, {"error": {"type": "api_error", "message": "down"}})] * 10
    mission, job = _approve_win_back(company)

    # when / then: retried later (transient), nothing promised meanwhile
    with pytest.raises(Exception):  # noqa: B017,PT011 - TransientJobError, re-raised for the task's retry
        job_run(job_id=job.pk)
    assert mail.outbox == [] and not Discount.objects.exists()
    assert not EmailDelivery.objects.exists()


def test_an_email_mentioning_a_code_that_does_not_exist_is_not_sent(company, shop, stripe_server):
    # given a play edited to promise a code nobody created
    mission, job = _approve_win_back(company)
    params = {**job.params, "body": "Hi {name}, 15% off with code WELCOMEBACK.\n"}
    params.pop("discount")
    Job.objects.filter(pk=job.pk).update(params=params)

    # when
    job_run(job_id=job.pk)

    # then nobody got a promise the shop cannot keep, and the job says why
    job.refresh_from_db()
    assert mail.outbox == []
    assert job.result["sent"] == 0 and len(job.result["not_sent"]) == 2
    assert "WELCOMEBACK, which does not exist" in job.log


def test_one_click_unsubscribe_from_the_email_withdraws_consent_and_stops_the_next_send(company, shop,
                                                                                        stripe_server):
    # given Lee got the win-back email
    _approve_win_back(company)
    job_run(job_id=Job.objects.get(company=company).pk)
    message = next(m for m in mail.outbox if m.to == ["lee@example.com"])
    link = message.extra_headers["List-Unsubscribe"].strip("<>")

    # when the mail client POSTs the RFC 8058 one-click body: no session, no CSRF token, no second click
    response = Client(enforce_csrf_checks=True).post(
        "/" + link.split("://", 1)[1].split("/", 1)[1], data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded")

    # then
    assert response.status_code == 200
    lee = CustomerFactory._meta.model.objects.get(company=company, email="lee@example.com")
    latest = lee.consents.order_by("-recorded_at", "-pk").first()
    assert latest.status == CustomerConsent.Status.WITHDRAWN and latest.source == "unsubscribe_link"
    from growth.services import email_segment_recipients

    assert [p["email"] for p in email_segment_recipients(company=company, segment="lapsed_customers")] == [
        "kim@example.com"]

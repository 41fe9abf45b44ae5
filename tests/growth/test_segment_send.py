"""A segment send in batches: the kill switch, the recipient check, the delivery rows and their sent marks cost
a constant number of queries whatever the number of recipients; each person still gets one email per send,
never one a code is not valid for, never after unsubscribing; a mail server error frees only what did not go
out."""

import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.utils import timezone

from commerce.models import Discount, DiscountRedemption, Order
from commerce.services.discounts import discount_mention_problems
from growth.models import EmailDelivery, Unsubscribe
from growth.services import email_segment_send
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


def _warm(company, count, *, prefix="w"):
    return [LeadFactory(company=company, email=f"{prefix}{n}@example.com", name=f"Lee {n}", score=70, consent=True)
            for n in range(count)]


def _code(company, code="BACK-1"):
    return Discount.objects.create(company=company, code=code, percent_off=10, max_redemptions=100)


def _redeemed(company, discount, email):
    order = Order.objects.create(company=company, total=10, created_at=timezone.now())
    DiscountRedemption.objects.create(company=company, discount=discount, order=order, email=email, amount=1,
                                      channel="stripe", redeemed_at=timezone.now())


def _send(company, *, key="job:1", guard=None):
    def check(texts):
        return discount_mention_problems(company=company, texts=texts)

    return email_segment_send(company=company, segment="warm_leads", subject="News", send_key=key, guard=guard,
                              body="Hi {name}, 10% off with code BACK-1.", recipient_check=check)


class SecondFails(EmailBackend):
    """Like locmem, but the mail server goes down at the second message of a connection."""

    def send_messages(self, messages):
        if len(mail.outbox) == 1:
            raise ConnectionRefusedError("the mail server went away")
        return super().send_messages(messages)


@pytest.mark.parametrize("recipients", [3, 40])
def test_a_send_costs_the_same_queries_for_3_or_40_recipients(company, other_company, recipients,
                                                              django_assert_num_queries):
    # given: warm leads, one who used the code and one unsubscribed; the other company's leads and its own
    # code of the same name (with a redemption by one of ours) are present
    leads = _warm(company, recipients)
    _warm(other_company, 5)
    ours, theirs = _code(company), _code(other_company)
    _redeemed(company, ours, leads[0].email)
    _redeemed(other_company, theirs, leads[1].email)
    Unsubscribe.objects.create(company=company, email=leads[2].email)
    guards = []

    # when
    with django_assert_num_queries(11):
        result = _send(company, guard=lambda: guards.append(1))

    # then: everyone else got one email; the code's user and the unsubscribed did not
    assert result["sent"] == recipients - 2 and len(mail.outbox) == recipients - 2 and len(guards) == 1
    assert [n["email"] for n in result["not_sent"]] == [leads[0].email]
    assert leads[1].email in {m.to[0] for m in mail.outbox}  # the other company's redemption is not ours
    assert set(EmailDelivery.objects.values_list("company_id", "status").distinct()) == {(company.pk, "sent")}
    assert not EmailDelivery.objects.filter(sent_at__isnull=True).exists()


def test_a_repeated_send_emails_nobody_twice_and_costs_no_more(company, other_company, django_assert_num_queries):
    # given: a send that went out; the other company sends with the same key
    _warm(company, 4)
    _warm(other_company, 2)
    _code(company)
    _code(other_company)
    _send(company)
    _send(other_company)
    mail.outbox.clear()

    # when: the job is delivered again
    with django_assert_num_queries(9):
        result = _send(company)

    # then
    assert result["sent"] == 0 and result["already_sent"] == 4 and mail.outbox == []
    assert EmailDelivery.objects.filter(company=company).count() == 4


def test_a_mail_server_failure_keeps_what_went_out_and_frees_the_rest_for_the_retry(company, settings):
    # given: three warm leads and a mail server that fails at the second message
    _warm(company, 3)
    _code(company)
    settings.EMAIL_BACKEND = "tests.growth.test_segment_send.SecondFails"

    # when
    with pytest.raises(ConnectionRefusedError):
        _send(company)

    # then: the first is recorded as sent, the other two rows are freed
    assert [m.to for m in mail.outbox] == [["w0@example.com"]]
    assert list(EmailDelivery.objects.values_list("email", "status")) == [("w0@example.com", "sent")]

    # when the server is back and the job retries
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    result = _send(company)

    # then only the two others get their email
    assert result["sent"] == 2 and result["already_sent"] == 1
    assert sorted(m.to[0] for m in mail.outbox) == ["w0@example.com", "w1@example.com", "w2@example.com"]


def test_the_kill_switch_is_checked_before_any_email_goes_out(company):
    # given
    _warm(company, 3)
    _code(company)

    def halted():
        raise RuntimeError("halted")

    # when / then: nothing is claimed or sent
    with pytest.raises(RuntimeError):
        _send(company, guard=halted)
    assert mail.outbox == [] and not EmailDelivery.objects.exists()


def test_the_batch_check_says_what_the_single_check_says(company, other_company):
    # given: a code with an overall limit reached, one within it, one that does not exist here
    spent = Discount.objects.create(company=company, code="SPENT-1", percent_off=5, max_redemptions=1)
    _redeemed(company, spent, "a@example.com")
    fine = _code(company, "FINE-1")
    _redeemed(company, fine, "b@example.com")
    _code(other_company, "THEIRS-1")
    texts = {"a@example.com": "code SPENT-1", "b@example.com": "code FINE-1", "c@example.com": "code FINE-1",
             "d@example.com": "code THEIRS-1", "e@example.com": "no code at all", "B@Example.com": "code FINE-1"}

    # when
    problems = discount_mention_problems(company=company, texts=texts)

    # then
    assert set(problems) == {"a@example.com", "b@example.com", "d@example.com", "B@Example.com"}
    assert "used up" in problems["a@example.com"] and "already used" in problems["b@example.com"]
    assert "does not exist" in problems["d@example.com"] and "already used" in problems["B@Example.com"]

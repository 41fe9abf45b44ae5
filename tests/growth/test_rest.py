"""The rest between marketing emails: unsubscribes grouped by the gap since the person's previous email, the
rest raised only when people emailed again sooner unsubscribe significantly more, and a play's email skipping
the people who rest. The clock is pinned; a second company's emails and unsubscribes are present."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from autonomax.models import ConfigChange
from growth.models import EmailDelivery, GrowthSettings, Unsubscribe
from growth.rest import contact_gap_rates, marketing_rest_learn, people_resting
from growth.services import email_segment_recipients
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(NOW, tick=False):
        yield


def _email(company, email, *, days_ago, key="play:1"):
    EmailDelivery.objects.create(company=company, send_key=f"{key}:{days_ago}", email=email, subject="News",
                                 status=EmailDelivery.Status.SENT, sent_at=NOW - timedelta(days=days_ago))


def _unsubscribed(company, email, *, days_ago, reason=Unsubscribe.Reason.UNSUBSCRIBED):
    row = Unsubscribe.objects.create(company=company, email=email, reason=reason)
    Unsubscribe.objects.filter(pk=row.pk).update(created_at=NOW - timedelta(days=days_ago))


def _mailings(company, *, people, first_gone, again_gone, gap=15, prefix="p"):
    """`people` emailed 40 days ago, and again `gap` days later (`gap=None`: once); `first_gone` unsubscribe after
    the first email, `again_gone` of the others after the second (in bulk: a few queries for thousands)."""
    emails = [f"{prefix}{n}@example.com" for n in range(people)]
    first, again = emails[:first_gone], emails[first_gone:first_gone + again_gone]

    def sent(who, days_ago):
        EmailDelivery.objects.bulk_create(
            EmailDelivery(company=company, send_key=f"play:{days_ago}", email=email, subject="News",
                          status=EmailDelivery.Status.SENT, sent_at=NOW - timedelta(days=days_ago)) for email in who)

    def left(who, days_ago):
        Unsubscribe.objects.bulk_create(Unsubscribe(company=company, email=email) for email in who)
        Unsubscribe.objects.filter(company=company, email__in=who).update(created_at=NOW - timedelta(days=days_ago))

    sent(emails, 40)
    left(first, 39)
    if gap is not None:
        sent(emails[first_gone:], 40 - gap)
        left(again, 39 - gap)


def test_unsubscribes_count_against_the_last_email_before_them_by_the_gap_since_the_previous(company, other_company):
    # given: first emails 40 days ago (3 of 20 leave at once), the others emailed again 15 days later (4 leave);
    # one person unsubscribed 10 days after the email (not caused by it), a spam complaint counts, a bounce
    # does not; the other company's people all leave after a second email 3 days later
    _mailings(company, people=20, first_gone=3, again_gone=4)
    _email(company, "late@example.com", days_ago=30)
    _unsubscribed(company, "late@example.com", days_ago=20)
    _email(company, "spam@example.com", days_ago=30)
    _unsubscribed(company, "spam@example.com", days_ago=29, reason=Unsubscribe.Reason.COMPLAINED)
    _email(company, "bounce@example.com", days_ago=30)
    _unsubscribed(company, "bounce@example.com", days_ago=30, reason=Unsubscribe.Reason.BOUNCED)
    _email(company, "fresh@example.com", days_ago=3)  # too recent to judge
    _email(company, "old@example.com", days_ago=200)  # before the look-back
    _email(company, "twice@example.com", days_ago=30)  # left after the second email, two days after the first
    _email(company, "twice@example.com", days_ago=28)
    _unsubscribed(company, "twice@example.com", days_ago=27)
    _mailings(other_company, people=30, first_gone=0, again_gone=30, gap=3)

    rows = {row["edge"]: row for row in contact_gap_rates(company=company)}

    assert (rows[30]["emails"], rows[30]["unsubscribed"]) == (17, 4)
    assert (rows[None]["emails"], rows[None]["unsubscribed"]) == (24, 4)  # 20 + 3 single emails + twice's first
    assert (rows[7]["emails"], rows[7]["unsubscribed"]) == (1, 1)
    assert rows[14]["emails"] == rows[60]["emails"] == 0
    assert rows[30]["label"] == "emailed again within 14 to 30 days"


def test_the_rest_rises_when_people_emailed_again_within_30_days_unsubscribe_twice_as_often(company, other_company):
    # given: 8% leave after a first email, 16% of the rest after a second one 15 days later
    _mailings(company, people=400, first_gone=32, again_gone=59)
    _mailings(other_company, people=50, first_gone=0, again_gone=0)

    changed = marketing_rest_learn(company=company)

    assert (changed["was"], changed["rest_days"]) == (0, 30)
    group = GrowthSettings.objects.get(company=company)
    assert group.marketing_rest_days == 30
    assert "within 14 to 30 days: 16.0% (59 of 368)" in group.marketing_rest_reason
    assert "against 8.0% (32 of 400)" in group.marketing_rest_reason
    change = ConfigChange.objects.get(company=company, object_type="growth.settings")
    assert change.changes == {"marketing_rest_days": [0, 30]}
    assert change.actor_label == "learned from unsubscribes"
    assert not GrowthSettings.objects.filter(company=other_company).exists()
    # learned once: the same figures change nothing again
    assert marketing_rest_learn(company=company) is None


def test_a_rise_just_below_the_threshold_of_significance_is_enough(company):
    # given: 57 of 368 second emails (15.5%) against 8.0%: one-sided p = 0.00086, below 0.001
    _mailings(company, people=400, first_gone=32, again_gone=57)

    assert marketing_rest_learn(company=company)["rest_days"] == 30
    assert "p = 0.00086" in GrowthSettings.objects.get(company=company).marketing_rest_reason


def test_when_people_tire_at_two_gaps_the_rest_is_the_longer(company):
    # given: 8% leave after a first email; 20% after a second one 10 days later, 16% after one 20 days later
    _mailings(company, people=400, first_gone=32, again_gone=74, gap=10, prefix="ten")
    _mailings(company, people=400, first_gone=32, again_gone=59, gap=20, prefix="twenty")

    assert marketing_rest_learn(company=company)["rest_days"] == 30
    assert "within 7 to 14 days" in GrowthSettings.objects.get(company=company).marketing_rest_reason


@pytest.mark.parametrize(("again_gone", "learn", "rest_before"), [
    (32, True, 0),     # the same 8% after a second email: nobody tires
    (56, True, 0),     # 15.2% against 8.0%: one-sided p = 0.0012, just above 0.001
    (59, False, 0),    # the owner turned the learning off
    (59, True, 60),    # the owner's rest is already longer
    (12, True, 0),     # fewer unsubscribes after the second email
    (405, True, 0),    # on 10 times the people, 11.0% against 8.0%: significant, but not 1.5 times the rate
])
def test_the_rest_stays_without_a_significant_rise_or_when_the_owner_decides(company, again_gone, learn,
                                                                            rest_before):
    GrowthSettings.objects.create(company=company, marketing_rest_learn=learn, marketing_rest_days=rest_before)
    scale = 10 if again_gone > 100 else 1
    _mailings(company, people=400 * scale, first_gone=32 * scale, again_gone=again_gone)

    assert marketing_rest_learn(company=company) is None
    assert GrowthSettings.objects.get(company=company).marketing_rest_days == rest_before
    assert not ConfigChange.objects.filter(company=company).exists()


def test_two_unsubscribes_are_not_a_rise_however_few_the_rested_ones(company):
    # given: 2 of 56 emails 30 to 60 days after the previous one led to an unsubscribe, against 2 of 697 rested
    # (the figures of a simulated shop where nobody tires: exactly, p = 0.03)
    _mailings(company, people=56, first_gone=0, again_gone=2, gap=31)
    _mailings(company, people=641, first_gone=2, again_gone=0, gap=None, prefix="r")

    rows = {row["edge"]: row for row in contact_gap_rates(company=company)}
    assert (rows[60]["emails"], rows[60]["unsubscribed"], rows[None]["emails"], rows[None]["unsubscribed"]) == \
        (56, 2, 697, 2)
    assert marketing_rest_learn(company=company) is None


def test_a_rise_on_fewer_than_50_emails_is_not_enough(company):
    # given: 10 of 44 second emails lead to an unsubscribe (23%) against 1% after 105 first emails
    _mailings(company, people=45, first_gone=1, again_gone=10)
    _mailings(company, people=60, first_gone=0, again_gone=0, gap=None, prefix="single")

    rows = {row["edge"]: row for row in contact_gap_rates(company=company)}
    assert (rows[30]["emails"], rows[None]["emails"]) == (44, 105)
    assert marketing_rest_learn(company=company) is None


def test_a_play_email_skips_people_resting_after_a_marketing_email(company, other_company):
    # given: a 30-day rest; warm leads emailed 10 and 40 days ago, one by this very send (a retried job), one
    # never; the other company emailed the never-emailed one yesterday
    GrowthSettings.objects.create(company=company, marketing_rest_days=30)
    for name in ("recent", "rested", "this-send", "never"):
        LeadFactory(company=company, email=f"{name}@example.com", score=70, consent=True)
    _email(company, "recent@example.com", days_ago=10)
    _email(company, "rested@example.com", days_ago=40)
    EmailDelivery.objects.create(company=company, send_key="job:7", email="this-send@example.com", subject="News",
                                 status=EmailDelivery.Status.SENT, sent_at=NOW - timedelta(hours=1))
    _email(other_company, "never@example.com", days_ago=1)

    assert people_resting(company=company, except_send_key="job:7") == {"recent@example.com"}
    emails = {p["email"] for p in email_segment_recipients(company=company, segment="warm_leads",
                                                           except_send_key="job:7")}
    assert emails == {"rested@example.com", "this-send@example.com", "never@example.com"}
    # without a rest everyone is there
    GrowthSettings.objects.filter(company=company).update(marketing_rest_days=0)
    assert len(email_segment_recipients(company=company, segment="warm_leads")) == 4

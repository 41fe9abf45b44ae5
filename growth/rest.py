"""The rest between marketing emails: how long after a marketing email a play leaves the person alone.

People who get marketing email too often stop answering it and unsubscribe. The rest is the company's
`marketing_rest_days` (Growth settings): a play's email skips everyone who got a marketing email (a play's, a
campaign's, a sequence's marketing step) in that many days. An owner sets it; the platform raises it when the
unsubscribes show that people tire (`marketing_rest_learn`, after a people play's evidence is recorded):

- every marketing email of the last `LOOKBACK_DAYS` whose outcome is known (sent `ATTRIBUTION_DAYS` ago or
  more) is grouped by the gap since the person's previous one: under 7 days, 7 to 14, 14 to 30, 30 to 60, and
  rested (60 days or more, or a first email);
- an unsubscribe or a spam complaint counts against the person's last email before it, if within
  `ATTRIBUTION_DAYS`;
- a gap group whose unsubscribe rate is above the rested people's (one-sided Fisher's exact test, p below
  `ALPHA`, at least `MIN_EMAILS` emails on each side and `MIN_RATIO` times the rate) tires people: the rest
  becomes the longest such group's upper edge. It only grows: once people rest, nobody is emailed sooner, so
  the data could never show the rest is too long. The owner can lower it or turn the learning off; each change
  is in the configuration log with its figures.
"""

from datetime import timedelta
from itertools import chain

from django.db import transaction
from django.utils import timezone

from autonomax.models import Company
from autonomax.services import config_change_record

from .capture import growth_settings_for
from .models import EmailDelivery, StepSend, Unsubscribe

GAP_EDGES = (7, 14, 30, 60)  # days; a gap of GAP_EDGES[-1] or more is a rested person
LOOKBACK_DAYS = 180
ATTRIBUTION_DAYS = 7
MIN_EMAILS = 50
MIN_RATIO = 1.5
# Four gap groups, tested again after every measured people play (a dozen times or more in six months), and a
# false alarm rests people for good: at 0.005, 4 of 80 simulated runs of six months where nobody tires past
# a week raised a 30- or 60-day rest; at 0.001 none did, and the shops that do tire learned it as before.
ALPHA = 0.001


def _marketing_sends(*, company: Company, since, until=None, except_send_key: str = ""):
    """(email, sent_at) of every marketing email sent in [since, until): play and campaign deliveries and
    sequences' marketing steps (two queries); a send's own deliveries (`except_send_key`) left out."""
    deliveries = EmailDelivery.objects.filter(company=company, status=EmailDelivery.Status.SENT, sent_at__gte=since)
    steps = StepSend.objects.filter(company=company, marketing=True, status=StepSend.Status.SENT, sent_at__gte=since)
    if until is not None:
        deliveries, steps = deliveries.filter(sent_at__lt=until), steps.filter(sent_at__lt=until)
    return chain(deliveries.exclude(send_key=except_send_key).values_list("email", "sent_at"),
                 steps.values_list("lead__email", "sent_at"))


def _contacts(*, company: Company, since, until) -> dict[str, list]:
    """email -> the times it was sent marketing email in [since, until), oldest first."""
    by_email: dict[str, list] = {}
    for email, at in _marketing_sends(company=company, since=since, until=until):
        by_email.setdefault(email.lower(), []).append(at)
    for times in by_email.values():
        times.sort()
    return by_email


def people_resting(*, company: Company, now=None, except_send_key: str = "") -> set[str]:
    """The addresses a play does not email now: a marketing email within the company's rest. A send's own
    emails (`except_send_key`, a retried job) do not make its recipients rest."""
    days = growth_settings_for(company=company).marketing_rest_days
    if not days:
        return set()
    since = (now or timezone.now()) - timedelta(days=days)
    return {email.lower() for email, _ in _marketing_sends(company=company, since=since,
                                                           except_send_key=except_send_key)}


def _gap_label(edge: int | None) -> str:
    if edge is None:
        return f"rested ({GAP_EDGES[-1]} days or more, or a first email)"
    lower = ([0, *GAP_EDGES])[GAP_EDGES.index(edge)]
    return f"emailed again within {lower} to {edge} days" if lower else f"emailed again within {edge} days"


def contact_gap_rates(*, company: Company, now=None) -> list[dict]:
    """Per gap group (GAP_EDGES, then rested): {edge, label, emails, unsubscribed, rate} over the marketing
    emails of the last LOOKBACK_DAYS whose outcome is known. Three queries."""
    now = now or timezone.now()
    judged_from, judged_until = now - timedelta(days=LOOKBACK_DAYS), now - timedelta(days=ATTRIBUTION_DAYS)
    contacts = _contacts(company=company, since=judged_from - timedelta(days=GAP_EDGES[-1]), until=judged_until)
    left = dict(Unsubscribe.objects.filter(company=company, created_at__gte=judged_from,
                                           reason__in=[Unsubscribe.Reason.UNSUBSCRIBED, Unsubscribe.Reason.COMPLAINED])
                .values_list("email", "created_at"))
    left = {email.lower(): at for email, at in left.items()}
    counts = {edge: [0, 0] for edge in (*GAP_EDGES, None)}
    for email, times in contacts.items():
        for i, at in enumerate(times):
            if at < judged_from:
                continue
            gap = (at - times[i - 1]).total_seconds() / 86400 if i else None
            edge = None if gap is None else next((e for e in GAP_EDGES if gap < e), None)
            next_at = times[i + 1] if i + 1 < len(times) else None
            gone = left.get(email)
            counts[edge][0] += 1
            counts[edge][1] += bool(gone is not None and at <= gone < at + timedelta(days=ATTRIBUTION_DAYS)
                                    and (next_at is None or gone < next_at))
    return [{"edge": edge, "label": _gap_label(edge), "emails": n, "unsubscribed": k, "rate": k / n if n else None}
            for edge, (n, k) in counts.items()]


def _p_value(row: dict, rested: dict) -> float:
    """One-sided Fisher's exact test: unsubscribes are rare (a few per hundred emails), too few for a normal
    approximation (a z-test called 2 of 56 against 2 of 697 significant, p = 0.0006; exactly, p = 0.03)."""
    from scipy.stats import fisher_exact  # noqa: PLC0415 - loaded where it is used

    table = [[row["unsubscribed"], row["emails"] - row["unsubscribed"]],
             [rested["unsubscribed"], rested["emails"] - rested["unsubscribed"]]]
    return float(fisher_exact(table, alternative="greater").pvalue)


def _tires(row: dict, rested: dict) -> bool:
    if row["emails"] < MIN_EMAILS or rested["emails"] < MIN_EMAILS or not row["unsubscribed"]:
        return False
    return row["rate"] >= MIN_RATIO * rested["rate"] and _p_value(row, rested) < ALPHA


def _percent(row: dict) -> str:
    return f"{row['rate']:.1%} ({row['unsubscribed']} of {row['emails']})"


def _p_words(p: float) -> str:
    return "< 0.0001" if p < 0.0001 else f"= {p:.2g}"


@transaction.atomic
def marketing_rest_learn(*, company: Company, now=None) -> dict | None:
    """Raise the company's rest when people emailed again sooner unsubscribe more (see the module). Returns
    {rest_days, was, reason, rows} when it changed, else None."""
    group = growth_settings_for(company=company)
    if not group.marketing_rest_learn:
        return None
    rows = contact_gap_rates(company=company, now=now)
    rested = rows[-1]
    tiring = [row for row in rows[:-1] if _tires(row, rested)]
    rest = max((row["edge"] for row in tiring), default=0)
    if rest <= group.marketing_rest_days:
        return None
    was = group.marketing_rest_days
    evidence = "; ".join(f"{row['label']}: {_percent(row)}, p {_p_words(_p_value(row, rested))}" for row in tiring)
    reason = (f"People unsubscribe more when emailed again soon. {evidence}; against {_percent(rested)} when "
              f"{rested['label']}. Plays now leave a person {rest} days after a marketing email.")
    group.marketing_rest_days, group.marketing_rest_reason = rest, reason
    group.save()
    config_change_record(company=company, actor_label="learned from unsubscribes", object_type="growth.settings",
                         object_id=str(group.pk), changes={"marketing_rest_days": [was, rest]}, reason=reason,
                         expected_effect="fewer unsubscribes, and readers who still answer a play's email")
    return {"rest_days": rest, "was": was, "reason": reason, "rows": rows}

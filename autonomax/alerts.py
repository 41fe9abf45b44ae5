"""Tell a company's owners something needs a person (escalations, stuck jobs, a missing file, weekly review).

Shared by every app: the owners' addresses are the company's owner members with an email, plus the
company's support address.
"""

import logging

from django.core.cache import cache
from django.core.mail import send_mail

from .models import Company, Membership, Role

logger = logging.getLogger(__name__)


def owner_emails(*, company: Company) -> list[str]:
    emails = Membership.objects.filter(company=company, role=Role.OWNER).exclude(user__email="") \
        .values_list("user__email", flat=True)
    return sorted(set(emails) | ({company.support_email} if company.support_email else set()))


def owners_alert(*, company: Company, subject: str, body: str, html: str | None = None, once_key: str = "",
                 once_seconds: int = 24 * 3600) -> int:
    """Email the owners (one message to all of them); returns the number of messages sent, 0 when nobody
    could be told. A mail failure is logged, never allowed to break the caller's work.

    With `once_key`, the same alert is sent at most once per `once_seconds`; a repeat sends nothing and
    returns what the first one returned.
    """
    recipients = owner_emails(company=company)
    if not recipients:
        logger.warning("no owner email for %s: %s", company.slug, subject)
        return 0
    cache_key = f"owners-alert:{company.pk}:{once_key}" if once_key else ""
    if cache_key and (told := cache.get(cache_key)):
        return told
    try:
        sent = send_mail(f"[{company.name}] {subject}", body, None, recipients, html_message=html)
    except OSError:
        logger.exception("could not email owners of %s: %s", company.slug, subject)
        return 0
    if cache_key and sent:
        cache.set(cache_key, sent, once_seconds)
    return sent

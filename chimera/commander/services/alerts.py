"""Tell a company's owners something needs a person (escalations, stuck jobs, weekly review)."""

import logging

from django.core.mail import send_mail

from autonomax.models import Company, Membership, Role

logger = logging.getLogger(__name__)


def owner_emails(*, company: Company) -> list[str]:
    emails = Membership.objects.filter(company=company, role=Role.OWNER).exclude(user__email="") \
        .values_list("user__email", flat=True)
    return sorted(set(emails) | ({company.support_email} if company.support_email else set()))


def owners_alert(*, company: Company, subject: str, body: str, html: str | None = None) -> int:
    """Email the owners; a mail failure is logged, never allowed to break the caller's work."""
    recipients = owner_emails(company=company)
    if not recipients:
        logger.warning("no owner email for %s: %s", company.slug, subject)
        return 0
    try:
        return send_mail(f"[{company.name}] {subject}", body, None, recipients, html_message=html)
    except OSError:
        logger.exception("could not email owners of %s: %s", company.slug, subject)
        return 0

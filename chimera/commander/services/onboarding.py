"""Onboarding a new company: its owner, the base playbook, then a silent cycle shows what the commander would do."""

from django.contrib.auth import get_user_model
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify

from autonomax.errors import AppError, ConflictError
from autonomax.models import Company, Membership, Role

from .cycle import cycle_run_company
from .playbook import playbook_load


def _owner_user(owner: str):
    """The existing user named by username or email, or None."""
    users = list(get_user_model().objects.filter(Q(username=owner) | Q(email__iexact=owner), is_active=True)[:2])
    if len(users) > 1:
        raise ConflictError(f"'{owner}' names more than one user: give the username.", code="owner_ambiguous")
    return users[0] if users else None


def company_onboard(*, name: str, owner: str, slug: str = "") -> tuple[Company, dict]:
    """Create the company with its owner (an existing user, by username or email, becomes owner; an unknown
    email is invited as owner), load the whole base playbook, and run a silent cycle.

    Returns (company, the silent cycle's report). The report's `owner` says which happened.
    """
    from autonomax.team import invitation_create_first_owner  # noqa: PLC0415 - the team's own service

    owner = (owner or "").strip()
    if not owner:
        raise AppError("A company needs an owner: give the owner's username or email.", code="owner_required")
    slug = slug or slugify(name)[:64]
    if not slug:
        raise ConflictError("The company needs a name that gives a slug.", code="invalid")
    user = _owner_user(owner)
    if user is None:
        try:
            validate_email(owner)
        except Exception as exc:  # noqa: BLE001 - django's ValidationError; answered as our error
            raise AppError(f"No user '{owner}', and it is not an email to invite.", code="owner_unknown") from exc
    with transaction.atomic():
        if Company.objects.filter(slug=slug).exists():
            raise ConflictError(f"A company with slug '{slug}' already exists.", code="company_exists")
        company = Company.objects.create(name=name, slug=slug, support_email="" if user else owner.lower())
        if user is not None:
            Membership.objects.create(company=company, user=user, role=Role.OWNER)
            owner_note = f"{user.get_username()} is the owner"
        else:
            invitation_create_first_owner(company=company, email=owner)
            owner_note = f"{owner.lower()} was invited as owner (alerts go there meanwhile)"
        playbook_load(companies=[company], actor_label="onboard_company", reason="onboarding: base playbook")
    report = cycle_run_company(company=company, dry_run=True)
    report["owner"] = owner_note
    return company, report


# --- onboarding in the browser (the owner's checklist on the Command Center and /onboarding/) ----------------

def onboarding_playbook_load(*, company: Company, actor) -> dict:
    """Load the base playbook from the files (again: a new version only when a file changed)."""
    return playbook_load(companies=[company], actor=actor, actor_label="onboarding",
                         reason="onboarding in the browser: base playbook")


def onboarding_silent_cycle(*, company: Company, actor) -> dict:
    """Run the cycle without changing anything and keep its report for the owner to review."""
    report = cycle_run_company(company=company, dry_run=True)
    if "skipped" in report:
        raise ConflictError("A cycle is running for this company right now; try again in a minute.",
                            code="cycle_running")
    with transaction.atomic():
        company = Company.objects.select_for_update().get(pk=company.pk)
        company.onboarding = {**company.onboarding, "silent_cycle": {
            "at": timezone.now().isoformat(), "by": actor.get_username(), "report": report}}
        company.onboarding.pop("reviewed_at", None)
        company.save(update_fields=["onboarding"])
    return report


def onboarding_report_reviewed(*, company: Company, actor) -> None:
    with transaction.atomic():
        company = Company.objects.select_for_update().get(pk=company.pk)
        if "silent_cycle" not in company.onboarding:
            raise ConflictError("Run the silent cycle first.", code="no_report")
        company.onboarding = {**company.onboarding, "reviewed_at": timezone.now().isoformat(),
                              "reviewed_by": actor.get_username()}
        company.save(update_fields=["onboarding"])

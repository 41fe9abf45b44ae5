"""The team of a company: invite a person by email with a role, accept by link, change a role, remove.

Only owners manage the team; a company always keeps at least one owner. Every change is recorded in
the change log (who, when, what).
"""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from .errors import AppError, ConflictError, NotFoundError
from .models import Company, Invitation, Membership, Role
from .services import config_change_record

INVITATION_DAYS = 7


def _unavailable(message: str) -> AppError:
    return AppError(message, code="invitation_unavailable", status=410)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _require_owner(*, company: Company, actor) -> None:
    if not Membership.objects.filter(company=company, user=actor, role=Role.OWNER).exists():
        raise AppError("Only an owner of this company manages its team.", code="forbidden", status=403)


def team_members(*, company: Company) -> list[Membership]:
    return list(Membership.objects.filter(company=company).select_related("user").order_by("user__username"))


def invitations_open(*, company: Company) -> list[Invitation]:
    return list(Invitation.objects.filter(company=company, accepted_at=None, revoked_at=None,
                                          expires_at__gt=timezone.now()).select_related("invited_by"))


def invitation_create(*, company: Company, actor, email: str, role: str) -> tuple[Invitation, str]:
    """Invite `email` as `role`; emails the link and returns (invitation, link). Only owners invite."""
    _require_owner(company=company, actor=actor)
    return _invitation_make(company=company, inviter=actor, email=email, role=role)


def invitation_create_first_owner(*, company: Company, email: str) -> tuple[Invitation, str]:
    """Onboarding: invite the first owner of a company that has no member yet (no owner to invite them)."""
    if Membership.objects.filter(company=company).exists():
        raise ConflictError(f"{company.name} already has members: an owner invites people.", code="has_members")
    return _invitation_make(company=company, inviter=None, email=email, role=Role.OWNER)


def _invitation_make(*, company: Company, inviter, email: str, role: str) -> tuple[Invitation, str]:
    if role not in Role.values:
        raise AppError(f"Unknown role {role!r}: choose owner, operator or viewer.", code="invalid_role")
    email = email.strip().lower()
    if Membership.objects.filter(company=company, user__email__iexact=email).exists():
        raise ConflictError(f"{email} is already a member of {company.name}.", code="already_member")
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        expires_at = timezone.now() + timedelta(days=INVITATION_DAYS)
        invitation = Invitation.objects.create(company=company, email=email, role=role, token_hash=_hash(token),
                                               invited_by=inviter, expires_at=expires_at)
        config_change_record(company=company, actor=inviter, actor_label="" if inviter else "onboarding",
                             object_type="invitation", object_id=str(invitation.pk),
                             changes={"email": [None, email], "role": [None, role]}, reason="invited")
    link = settings.SITE_URL.rstrip("/") + reverse("invitation-accept", args=[token])
    who = inviter.get_username() if inviter else "AutonomaX"
    transaction.on_commit(lambda: send_mail(
        f"You are invited to {company.name} on AutonomaX",
        f"{who} invites you to {company.name} as {role}.\n\n"
        f"Accept within {INVITATION_DAYS} days: {link}\n\nIf you did not expect this, ignore this email.",
        None, [email]))
    return invitation, link


def invitation_by_token(*, token: str) -> Invitation:
    invitation = Invitation.objects.select_related("company").filter(token_hash=_hash(token)).first()
    if invitation is None:
        raise NotFoundError("This invitation link is not valid.")
    if invitation.accepted_at or invitation.revoked_at or invitation.expires_at <= timezone.now():
        raise _unavailable("This invitation has been used, withdrawn or has expired: ask for a new one.")
    return invitation


def invitation_accept(*, token: str, user) -> Membership:
    """The signed-in `user` joins the invitation's company with its role; the link then stops working."""
    with transaction.atomic():
        invitation = invitation_by_token(token=token)
        invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if invitation.accepted_at:  # accepted in another request meanwhile
            raise _unavailable("This invitation has been used: ask for a new one.")
        try:
            with transaction.atomic():
                membership = Membership.objects.create(user=user, company=invitation.company, role=invitation.role)
        except IntegrityError:
            raise ConflictError(f"You are already a member of {invitation.company.name}.",
                                code="already_member") from None
        invitation.accepted_at, invitation.accepted_by = timezone.now(), user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
        config_change_record(company=invitation.company, actor=user, object_type="membership",
                             object_id=str(membership.pk), changes={"role": [None, invitation.role]},
                             reason=f"accepted the invitation sent to {invitation.email}")
    return membership


def invitation_revoke(*, company: Company, actor, invitation_id: int) -> None:
    _require_owner(company=company, actor=actor)
    updated = Invitation.objects.filter(company=company, pk=invitation_id, accepted_at=None,
                                        revoked_at=None).update(revoked_at=timezone.now())
    if not updated:
        raise NotFoundError("No open invitation with that id.")
    config_change_record(company=company, actor=actor, object_type="invitation", object_id=str(invitation_id),
                         reason="withdrawn")


def _keep_an_owner(*, company: Company, membership: Membership) -> None:
    if membership.role == Role.OWNER and not Membership.objects.filter(
            company=company, role=Role.OWNER).exclude(pk=membership.pk).exists():
        raise ConflictError("A company keeps at least one owner: make someone else owner first.", code="last_owner")


def membership_role_set(*, company: Company, actor, membership_id: int, role: str) -> Membership:
    _require_owner(company=company, actor=actor)
    if role not in Role.values:
        raise AppError(f"Unknown role {role!r}: choose owner, operator or viewer.", code="invalid_role")
    with transaction.atomic():
        membership = Membership.objects.select_for_update().filter(company=company, pk=membership_id).first()
        if membership is None:
            raise NotFoundError("No such member.")
        if role != Role.OWNER:
            _keep_an_owner(company=company, membership=membership)
        old = membership.role
        membership.role = role
        membership.save(update_fields=["role"])
        config_change_record(company=company, actor=actor, object_type="membership", object_id=str(membership.pk),
                             changes={"role": [old, role]}, reason=f"role of {membership.user.get_username()}")
    return membership


def membership_remove(*, company: Company, actor, membership_id: int) -> None:
    _require_owner(company=company, actor=actor)
    with transaction.atomic():
        membership = (Membership.objects.select_for_update().select_related("user")
                      .filter(company=company, pk=membership_id).first())
        if membership is None:
            raise NotFoundError("No such member.")
        _keep_an_owner(company=company, membership=membership)
        membership.delete()
        # The person's API tokens for this company stop working with the membership.
        membership.user.api_tokens.filter(company=company, revoked_at=None).update(revoked_at=timezone.now())
        config_change_record(company=company, actor=actor, object_type="membership", object_id=str(membership_id),
                             changes={"role": [membership.role, None]},
                             reason=f"removed {membership.user.get_username()}")

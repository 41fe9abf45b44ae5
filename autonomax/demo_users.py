"""The demo company's users: owner, operator and viewer (`seed_demo`, `reset_demo_passwords`).

Their passwords are random and shown once; only a hash is stored, so the way back in is a new one.
"""

import secrets
from dataclasses import dataclass

from axes.utils import reset as axes_reset
from django.contrib.auth import get_user_model
from django.db import transaction

from .models import Company, Membership, Role

DEMO_USERS = (("owner", Role.OWNER), ("operator", Role.OPERATOR), ("viewer", Role.VIEWER))


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: str
    password: str

    def __str__(self) -> str:
        return f"  {self.role:<8} login: {self.username}  password: {self.password}  (shown once)"


def demo_username(*, company: Company, name: str) -> str:
    return name if company.slug == "demo" else f"{company.slug}-{name}"


def _new_password(user) -> str:
    password = secrets.token_urlsafe(12)
    user.set_password(password)
    user.save(update_fields=["password"])
    return password


@transaction.atomic
def demo_users_create(*, company: Company) -> list[DemoLogin]:
    """The demo users and their memberships, made when missing; the logins of those just made."""
    User = get_user_model()
    logins = []
    for name, role in DEMO_USERS:
        user, created = User.objects.get_or_create(
            username=demo_username(company=company, name=name),
            defaults={"email": f"{name}@{company.slug}.autonomax.local", "is_staff": role != Role.VIEWER},
        )
        if created:
            logins.append(DemoLogin(username=user.username, role=role, password=_new_password(user)))
        Membership.objects.get_or_create(user=user, company=company, defaults={"role": role})
    return logins


@transaction.atomic
def demo_passwords_reset(*, company: Company) -> list[DemoLogin]:
    """A new random password for each demo user still a member of `company`, and its login lockout lifted.

    Only members of the demo company: a user elsewhere who happens to be called `owner` is left alone.
    """
    usernames = [demo_username(company=company, name=name) for name, _ in DEMO_USERS]
    memberships = Membership.objects.select_related("user").filter(company=company, user__username__in=usernames)
    by_username = {m.user.username: m for m in memberships}
    logins = []
    for username in usernames:
        membership = by_username.get(username)
        if membership is None:
            continue
        logins.append(DemoLogin(username=username, role=membership.role, password=_new_password(membership.user)))
        axes_reset(username=username)
    return logins

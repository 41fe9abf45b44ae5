from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from autonomax.authentication import api_token_create
from autonomax.models import Membership


class Command(BaseCommand):
    help = "Create an API token for USER in a company (printed once; only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--company", help="company slug (default: the user's only company)")
        parser.add_argument("--name", default="", help="a label for the token")

    def handle(self, *args, username, company, name, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        memberships = Membership.objects.select_related("company").filter(user=user)
        if company:
            memberships = memberships.filter(company__slug=company)
        memberships = list(memberships[:2])
        if not memberships:
            raise CommandError(f"{username} is not a member of {company!r}." if company
                               else f"{username} is not a member of any company.")
        if len(memberships) > 1:
            raise CommandError(f"{username} belongs to several companies: pass --company SLUG.")
        token, raw_key = api_token_create(user=user, company=memberships[0].company, name=name)
        self.stdout.write(f"Token for {username} @ {token.company.slug} (shown once):\n{raw_key}")

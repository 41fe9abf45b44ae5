from django.core.management.base import BaseCommand, CommandError

from autonomax.demo_users import DEMO_USERS, demo_passwords_reset
from autonomax.models import Company


class Command(BaseCommand):
    help = ("Give the demo users (owner, operator, viewer) new random passwords, printed once, and lift their "
            "login lockouts. The old passwords stop working.")

    def add_arguments(self, parser):
        parser.add_argument("--slug", default="demo", help="the demo company (default: demo)")

    def handle(self, *args, slug: str, **options):
        company = Company.objects.filter(slug=slug).first()
        if company is None:
            raise CommandError(f"No company {slug!r}: `make run` or `manage.py seed_demo` creates the demo.")
        logins = demo_passwords_reset(company=company)
        if not logins:
            raise CommandError(f"Company {slug!r} has none of the demo users ({', '.join(n for n, _ in DEMO_USERS)}) "
                               f"as members: `manage.py seed_demo --slug {slug}` creates them.")
        for login in logins:
            self.stdout.write(str(login))
        if len(logins) < len(DEMO_USERS):
            self.stdout.write("Some demo users are gone: `manage.py seed_demo` creates them again.")

from django.core.management.base import BaseCommand, CommandError

from autonomax.errors import AppError
from chimera.commander.services.cycle import cycle_report_text
from chimera.commander.services.onboarding import company_onboard


class Command(BaseCommand):
    help = ("Create a company from NAME with its OWNER (a username or email; an unknown email is invited as owner), "
            "copy the base playbook (KPIs, agents, plays) and run a silent cycle.")

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--owner", required=True, help="the owner's username or email")
        parser.add_argument("--slug", default="")

    def handle(self, *args, name, owner, slug="", **options):
        try:
            company, report = company_onboard(name=name, owner=owner, slug=slug)
        except AppError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(self.style.SUCCESS(f"company '{company.slug}' created with the base playbook; "
                                             f"{report['owner']}"))
        self.stdout.write(cycle_report_text(report))

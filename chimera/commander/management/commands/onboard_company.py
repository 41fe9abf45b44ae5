from django.core.management.base import BaseCommand, CommandError

from autonomax.errors import AppError
from chimera.commander.services.cycle import cycle_report_text
from chimera.commander.services.onboarding import company_onboard


class Command(BaseCommand):
    help = "Create a company from NAME, copy the base configs (KPIs, playbook) and run a silent cycle."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--slug", default="")

    def handle(self, *args, name, slug="", **options):
        try:
            company, report = company_onboard(name=name, slug=slug)
        except AppError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(self.style.SUCCESS(f"company '{company.slug}' created with the base playbook"))
        self.stdout.write(cycle_report_text(report))

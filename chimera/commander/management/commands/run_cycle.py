from django.core.management.base import BaseCommand, CommandError

from autonomax.models import Company
from chimera.commander.services.cycle import cycle_report_text, cycle_run


class Command(BaseCommand):
    help = "Run the commander cycle now for every active company (or one). --dry-run changes nothing."

    def add_arguments(self, parser):
        parser.add_argument("--company", help="company slug")
        parser.add_argument("--dry-run", action="store_true", help="silent cycle: compute and show, change nothing")

    def handle(self, *args, company=None, dry_run=False, **options):
        if company and not Company.objects.filter(slug=company, is_active=True).exists():
            raise CommandError(f"unknown or inactive company '{company}'")
        reports = cycle_run(slug=company, dry_run=dry_run)
        for report in reports:
            self.stdout.write(cycle_report_text(report))
        if any("error" in r for r in reports):
            raise CommandError("the cycle failed for: " + ", ".join(r["company"] for r in reports if "error" in r))

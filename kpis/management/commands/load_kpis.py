"""Load configs/kpis.yml (or FILE) for one company, or for every active company."""

from django.core.management.base import BaseCommand, CommandError

from autonomax.models import Company
from kpis.services import KPIConfigError, kpis_load_config


class Command(BaseCommand):
    help = "Load the KPI playbook (all-or-nothing) for a company (--company SLUG) or every active company."

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", help="path to kpis.yml (default: configs/kpis.yml)")
        parser.add_argument("--company", help="company slug (default: every active company)")
        parser.add_argument("--reason", default="", help="why, for the change log")

    def handle(self, *args, file=None, company=None, reason="", **options):
        companies = Company.objects.filter(is_active=True)
        if company:
            companies = companies.filter(slug=company)
            if not companies.exists():
                raise CommandError(f"unknown company {company!r}")
        for target in companies:
            try:
                kpis = kpis_load_config(company=target, path=file, reason=reason)
            except KPIConfigError as exc:
                raise CommandError("\n".join(str(p) for p in exc.problems)) from exc
            self.stdout.write(f"{target.slug}: {len(kpis)} active KPIs loaded")

"""Refit churn and lifetime value for one company (or all) and print the check against the future:
`lifetime_fit [--company SLUG]`."""

from django.core.management.base import BaseCommand, CommandError

from autonomax.models import Company
from customers.services.lifetime import holdout_text, lifetime_refit
from customers.services.segments import profiles_refresh


class Command(BaseCommand):
    help = "Fit BG/NBD + Gamma-Gamma now and print the holdout check (MAE, calibration by decile)."

    def add_arguments(self, parser):
        parser.add_argument("--company", help="company slug (default: every active company)")

    def handle(self, *args, company=None, **options):
        companies = Company.objects.filter(is_active=True).order_by("pk")
        if company:
            companies = companies.filter(slug=company)
            if not companies.exists():
                raise CommandError(f"no active company '{company}'")
        for item in companies:
            profiles_refresh(company=item)
            model = lifetime_refit(company=item)
            self.stdout.write(f"== {item.slug}\n{holdout_text(model)}")

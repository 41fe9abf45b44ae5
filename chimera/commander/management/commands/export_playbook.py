from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from autonomax.models import Company
from chimera.commander.services.playbook import playbook_export


class Command(BaseCommand):
    help = "Write a company's playbook (as edited in the admin) back to kpis.yml, agents.yml and plays.yml in DIR."

    def add_arguments(self, parser):
        parser.add_argument("directory")
        parser.add_argument("--company", required=True)

    def handle(self, *args, directory, company, **options):
        company_obj = Company.objects.filter(slug=company).first()
        if company_obj is None:
            raise CommandError(f"unknown company '{company}'")
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        for name, text in playbook_export(company=company_obj).items():
            (out / name).write_text(text)
            self.stdout.write(f"wrote {out / name}")

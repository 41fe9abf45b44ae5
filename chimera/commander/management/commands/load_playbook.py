from django.core.management.base import BaseCommand, CommandError

from autonomax.models import Company
from chimera.commander.services.playbook import PlaybookError, playbook_load


class Command(BaseCommand):
    help = ("Load the whole playbook, configs/kpis.yml + agents.yml + plays.yml (or DIR), into every company "
            "(or one) as one new playbook version: all or nothing.")

    def add_arguments(self, parser):
        parser.add_argument("directory", nargs="?", default=None)
        parser.add_argument("--company", help="company slug (default: every active company)")
        parser.add_argument("--reason", default="playbook loaded from files")

    def handle(self, *args, directory=None, company=None, reason="", **options):
        companies = Company.objects.filter(is_active=True)
        if company:
            companies = companies.filter(slug=company)
            if not companies.exists():
                raise CommandError(f"unknown company '{company}'")
        try:
            counts = playbook_load(companies=list(companies), directory=directory, reason=reason)
        except PlaybookError as exc:
            raise CommandError("\n".join(["playbook rejected; nothing was changed:", *exc.errors])) from exc
        self.stdout.write(self.style.SUCCESS(
            f"playbook loaded: {counts['created']} play(s) created, {counts['updated']} updated (new version), "
            f"{counts['unchanged']} unchanged, {counts['removed']} removed (disabled), {counts['agents']} agent "
            f"row(s); playbook version {', '.join(f'{k} v{v}' for k, v in counts['versions'].items()) or '-'}"))

"""Import external metric values from a CSV export (columns: metric, value, at, source)."""

import csv

from django.core.management.base import BaseCommand, CommandError

from autonomax.models import Company
from kpis.services import metrics_push


class Command(BaseCommand):
    help = "Import external metrics from CSV (header: metric,value,at,source). Re-importing changes nothing."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--company", required=True, help="company slug")

    def handle(self, *args, file, company, **options):
        target = Company.objects.filter(slug=company, is_active=True).first()
        if target is None:
            raise CommandError(f"unknown company {company!r}")
        try:
            with open(file, newline="", encoding="utf-8-sig") as handle:
                reader = csv.DictReader(handle)
                missing = {"metric", "value", "at", "source"} - set(reader.fieldnames or [])
                if missing:
                    raise CommandError(f"{file}: missing column(s) {', '.join(sorted(missing))}")
                rows = list(reader)
        except OSError as exc:
            raise CommandError(f"{file}: {exc.strerror}") from exc
        result = metrics_push(company=target, rows=rows)
        for item in result["results"]:
            if item["status"] == "rejected":
                # Line numbers count the header as line 1.
                self.stderr.write(f"{file}:{item['index'] + 2}: rejected: {'; '.join(item['errors'])}")
        self.stdout.write(f"{result['accepted']} accepted, {result['rejected']} rejected")

"""python manage.py chimera_generate --task-type T [--company SLUG] "prompt": prints the API's JSON."""

import json

from django.core.management.base import BaseCommand, CommandError

from autonomax.errors import AppError
from autonomax.models import Company
from chimera.ai.services import ai_generate


class Command(BaseCommand):
    help = "Generate with the AI engine and print the same JSON as POST /api/v1/ai/generate."

    def add_arguments(self, parser):
        parser.add_argument("prompt")
        parser.add_argument("--task-type", required=True)
        parser.add_argument("--company", help="company slug (default: the only active company)")
        parser.add_argument("--max-tokens", type=int)
        parser.add_argument("--temperature", type=float)
        parser.add_argument("--context", help="JSON object of structured inputs, e.g. '{\"keywords\": [\"x\"]}'")
        parser.add_argument("--correlation-id", default="")

    def handle(self, *args, **options):
        company = self._company(options["company"])
        try:
            context = json.loads(options["context"]) if options["context"] else None
        except json.JSONDecodeError as exc:
            raise CommandError(f"--context is not valid JSON: {exc}") from exc
        try:
            result = ai_generate(
                company=company, task_type=options["task_type"], prompt=options["prompt"],
                max_tokens=options["max_tokens"], temperature=options["temperature"], context=context,
                correlation_id=options["correlation_id"],
            )
        except AppError as exc:
            self.stdout.write(json.dumps(exc.as_body(), default=str))
            raise CommandError(exc.message) from exc
        self.stdout.write(json.dumps(result.as_dict(), ensure_ascii=False))

    def _company(self, slug: str | None) -> Company:
        active = Company.objects.filter(is_active=True)
        if slug:
            company = active.filter(slug=slug).first()
            if company is None:
                raise CommandError(f"no active company with slug {slug!r}")
            return company
        companies = list(active.order_by("slug")[:2])
        if len(companies) != 1:
            raise CommandError("pass --company SLUG (there is not exactly one active company)")
        return companies[0]

from django.core.management.base import BaseCommand, CommandError

from autonomax.models import Company
from support.intents import intent_model_train, intent_models_train_all


class Command(BaseCommand):
    help = "Train a new version of the intent model on the tickets people labelled (every company, or one)."

    def add_arguments(self, parser):
        parser.add_argument("--company", help="company slug")
        parser.add_argument("--force", action="store_true", help="train even when no label is new")

    def handle(self, *args, company=None, force=False, **options):
        if company is None:
            for slug, outcome in intent_models_train_all().items():
                self.stdout.write(f"{slug}: {outcome}")
            return
        found = Company.objects.filter(slug=company).first()
        if found is None:
            raise CommandError(f"unknown company '{company}'")
        result = intent_model_train(company=found, force=force)
        if result.model is None:
            self.stdout.write(f"{company}: {result.reason}")
            return
        metrics = result.model.metrics
        self.stdout.write(f"{company}: v{result.model.version} on {result.model.trained_on} tickets, "
                          f"cross-validated accuracy {metrics.get('accuracy', 'n/a')}")

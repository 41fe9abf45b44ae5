"""Train the learned lead-scoring model now (the nightly beat task does the same for every company)."""

from django.core.management.base import BaseCommand, CommandError

from autonomax.models import Company
from growth.learned import lead_model_train


class Command(BaseCommand):
    help = "Train each company's lead-scoring model; it is used only if it beats the rules on held-out leads."

    def add_arguments(self, parser):
        parser.add_argument("--company", help="slug of one company (default: every active company)")

    def handle(self, *args, **options):
        companies = Company.objects.filter(is_active=True)
        if options["company"]:
            companies = companies.filter(slug=options["company"])
            if not companies.exists():
                raise CommandError(f"No active company '{options['company']}'.")
        for company in companies.order_by("slug"):
            result = lead_model_train(company=company)
            if not result["trained"]:
                self.stdout.write(f"{company.slug}: not trained: {result['reason']}")
                continue
            self.stdout.write(f"{company.slug}: lead model v{result['version']} {result['decision']}")
            for name in ("model", "rules"):
                m = result["metrics"][name]
                bins = ", ".join(f"{b['predicted']:.2f}->{b['observed']:.2f}" for b in m["calibration"])
                self.stdout.write(f"  {name:5} AUC {m['auc']:.3f}  log loss {m['log_loss']:.3f}  accuracy "
                                  f"{m['accuracy']:.1%}  Brier {m['brier']:.3f}  ECE {m['ece']:.3f}  "
                                  f"calibration (predicted->observed) {bins}")

"""Export or erase one person's data: `customer_data export|erase --company SLUG --email ADDRESS ...`."""

import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from autonomax.errors import AppError
from autonomax.models import Company
from commerce.models import Customer
from customers.services.privacy import customer_erase, customer_export


class Command(BaseCommand):
    help = "Export everything held about a customer (JSON), or erase them everywhere (with a reason)."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["export", "erase"])
        parser.add_argument("--company", required=True, help="company slug")
        parser.add_argument("--email", required=True)
        parser.add_argument("--out", help="export: write the JSON here (default: standard output)")
        parser.add_argument("--reason", help="erase: why (recorded)")
        parser.add_argument("--by", help="erase: username of the person erasing (recorded)")

    def handle(self, *args, action, company, email, out=None, reason=None, by=None, **options):
        company_obj = Company.objects.filter(slug=company).first()
        if company_obj is None:
            raise CommandError(f"no company '{company}'")
        customer = Customer.objects.filter(company=company_obj, email__iexact=email.strip()).first()
        if customer is None:
            raise CommandError(f"no customer {email} in {company}")
        if action == "export":
            text = json.dumps(customer_export(customer=customer), indent=2, default=str)
            if out:
                with open(out, "w", encoding="utf-8") as handle:
                    handle.write(text)
                self.stdout.write(f"wrote {out}")
            else:
                self.stdout.write(text)
            return
        actor = get_user_model().objects.filter(username=by).first() if by else None
        if by and actor is None:
            raise CommandError(f"no user '{by}'")
        try:
            record = customer_erase(customer=customer, actor=actor, reason=reason or "")
        except AppError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"erased customer {record.customer_ref}: {json.dumps(record.changed)}")

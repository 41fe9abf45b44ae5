"""Demo company with ~90 days of realistic, deterministic history (wiring level: it writes every app's rows).

Re-runnable: the company, users and catalog are matched by natural keys, and
the history is written once (all or nothing) per company.
"""

import random
from datetime import timedelta
from decimal import Decimal

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from autonomax.demo_users import demo_users_create
from autonomax.models import Company
from commerce.models import Customer, CustomerConsent, IncomeStream, Order, OrderItem, Product, Refund
from commerce.services.consent import CHECKOUT_WORDING
from commerce.services.deliverables import product_deliverable_render
from growth.models import Lead
from support.models import Ticket, TicketMessage

DAYS = 90
SEED = 20261121

CATALOG = [
    # sku, name, kind, price, income stream
    ("NT-BUDGET", "Notion Budget Planner", "digital", "19.00", "digital_products"),
    ("NT-CONTENT", "Notion Content Calendar", "digital", "24.00", "digital_products"),
    ("EB-ETSY", "Etsy SEO Playbook (ebook)", "digital", "12.00", "digital_products"),
    ("LR-FILM", "Film Look Lightroom Presets", "digital", "15.00", "digital_products"),
    ("CV-KIT", "Canva Brand Kit Templates", "digital", "29.00", "digital_products"),
    ("SV-AUDIT", "Shop Audit Call (60 min)", "service", "120.00", "consulting"),
    ("SB-CLUB", "Template Club Membership (monthly)", "subscription", "9.00", "subscriptions"),
]
STREAM_NAMES = {
    "digital_products": "Digital products",
    "subscriptions": "Subscriptions",
    "consulting": "Consulting",
    "services": "Services",
    "affiliates": "Affiliates",
}
FIRST_NAMES = ["ada", "ben", "chloe", "dev", "emma", "farid", "grace", "hugo", "ines", "jon", "kai", "lena",
               "mo", "nora", "omar", "pia", "quinn", "rosa", "sam", "tara", "uma", "vik", "wen", "yara", "zoe"]
SOURCES = [("landing", "google", "cpc"), ("instagram", "instagram", "social"), ("etsy", "etsy", "marketplace"),
           ("referral", "newsletter", "email"), ("fiverr", "fiverr", "marketplace")]
TICKET_TOPICS = [
    ("Download link not working", "download_issue"),
    ("Can I get a refund?", "refund_request"),
    ("How do I duplicate the Notion template?", "how_to"),
    ("Invoice for my purchase", "billing"),
    ("Presets look different on mobile", "how_to"),
    ("Change my subscription", "billing"),
]


class Command(BaseCommand):
    help = "Create the demo company, its users and ~90 days of deterministic history."

    def add_arguments(self, parser):
        parser.add_argument("--if-empty", action="store_true",
                            help="do nothing when the demo company already exists (used by `make run`)")
        parser.add_argument("--slug", default="demo")
        parser.add_argument("--simulated-shop", action="store_true",
                            help="also create '<slug>-simulated': 90 days run by the shop simulator, with finished "
                                 "missions and their evidence (about a minute; `make run` does it on first start)")

    def handle(self, *args, if_empty: bool, slug: str, simulated_shop: bool = False, **options):
        if if_empty and Company.objects.filter(slug=slug).exists():
            self.stdout.write(f"Demo company '{slug}' exists; nothing to do.")
        else:
            self._demo(slug)
        simulated = f"{slug}-simulated"
        if simulated_shop and not Company.objects.filter(slug=simulated).exists():
            self.stdout.write(f"Writing '{simulated}': 90 days run by the shop simulator (about a minute) ...")
            call_command("simulate", scenario="default", days=90, policy="learn", keep=simulated, stdout=self.stdout)

    def _demo(self, slug: str):
        company, _ = Company.objects.get_or_create(
            slug=slug, defaults={"name": "Demo Digital Store", "support_email": "support@demo.autonomax.local"}
        )
        self._users(company)
        products = self._catalog(company)
        if Order.objects.filter(company=company, external_id__startswith="demo-").exists():
            self.stdout.write("History already seeded; skipping.")
        else:
            self._history(company, products)
        self._playbook(company)
        self.stdout.write(self.style.SUCCESS(f"Demo company '{slug}' is ready."))

    def _users(self, company):
        """Owner, operator and viewer; a password is printed once, when the user is created."""
        for login in demo_users_create(company=company):
            self.stdout.write(str(login))

    def _catalog(self, company) -> list[Product]:
        streams = {
            kind: IncomeStream.objects.get_or_create(company=company, kind=kind, defaults={"name": name})[0]
            for kind, name in STREAM_NAMES.items()
        }
        products = []
        for sku, name, kind, price, stream in CATALOG:
            product, created = Product.objects.get_or_create(
                company=company, sku=sku,
                defaults={
                    "slug": f"{company.slug}-{sku.lower()}", "name": name, "kind": kind, "price": Decimal(price),
                    "currency": company.currency, "status": Product.Status.ACTIVE, "income_stream": streams[stream],
                    "description": f"{name}: ready to use in minutes, with a step-by-step guide.",
                },
            )
            if created and kind == Product.Kind.DIGITAL:
                product = product_deliverable_render(product=product)  # the PDF the buyer downloads
            products.append(product)
        return products

    @transaction.atomic
    def _history(self, company, products):
        rng = random.Random(SEED)
        now = timezone.now().replace(minute=0, second=0, microsecond=0)
        start = now - timedelta(days=DAYS)
        customers: list[Customer] = []
        orders: list[tuple[Order, list[OrderItem]]] = []
        refunds: list[Refund] = []
        leads: list[Lead] = []
        tickets: list[tuple[Ticket, list[TicketMessage]]] = []
        order_no = 0
        for day in range(DAYS):
            date = start + timedelta(days=day)
            recent = day >= DAYS - 14  # the last two weeks tell the story the board shows
            weekend = date.weekday() >= 5
            # Orders: a slowly growing store, with a dip in the last two weeks.
            for _ in range(max(0, int(rng.gauss(6 + day / 30, 2)) - (2 if recent else 0) + (1 if weekend else 0))):
                order_no += 1
                at = date + timedelta(minutes=rng.randrange(24 * 60))
                repeat = customers and rng.random() < (0.12 if recent else 0.25)
                if repeat:
                    customer = rng.choice(customers)
                else:
                    name = rng.choice(FIRST_NAMES)
                    customer = Customer(company=company, email=f"{name}.{order_no}@example.com", name=name.title(),
                                        created_at=at)
                    customers.append(customer)
                picks = rng.sample(products, k=1 if rng.random() < 0.8 else 2)
                items = [OrderItem(product=p, title=p.name, quantity=1, unit_price=p.price) for p in picks]
                total = sum((i.unit_price for i in items), Decimal("0"))
                order = Order(company=company, customer=customer, channel=rng.choice(["stripe", "stripe", "shopify"]),
                              external_id=f"demo-{order_no:05d}", currency=company.currency, total=total,
                              income_stream=picks[0].income_stream, created_at=at, paid_at=at,
                              fulfilled_at=at + timedelta(minutes=1), status=Order.Status.FULFILLED)
                if rng.random() < (0.09 if recent else 0.03):
                    refund_at = at + timedelta(hours=rng.randrange(2, 72))
                    if refund_at < now:
                        order.status, order.refunded_at, order.amount_refunded = Order.Status.REFUNDED, refund_at, total
                        refunds.append(Refund(company=company, order=order, amount=total, currency=company.currency,
                                              reason="requested_by_customer", status=Refund.Status.SUCCEEDED,
                                              created_at=refund_at))
                orders.append((order, items))
            # Leads: steady inflow, a fifth of them convert within two weeks.
            for n in range(max(0, int(rng.gauss(12, 3)))):
                at = date + timedelta(minutes=rng.randrange(24 * 60))
                source, utm_source, utm_medium = rng.choice(SOURCES)
                converted = rng.random() < (0.10 if recent else 0.2)
                converted_at = at + timedelta(days=rng.randrange(1, 14)) if converted else None
                converted_at = converted_at if converted_at and converted_at < now else None
                leads.append(Lead(company=company, email=f"lead.{day:02d}.{n:02d}@example.com", source=source,
                                  utm_source=utm_source, utm_medium=utm_medium, utm_campaign=f"wave-{day // 30 + 1}",
                                  score=min(100, max(0, int(rng.gauss(55 if converted_at else 35, 15)))),
                                  status=Lead.Status.CONVERTED if converted_at else rng.choice(
                                      [Lead.Status.NEW, Lead.Status.NURTURING, Lead.Status.QUALIFIED]),
                                  consent=rng.random() < 0.85, created_at=at, consent_at=at,
                                  converted_at=converted_at))
            # Tickets: first responses slow down lately; some are answered by the AI alone.
            for n in range(max(0, int(rng.gauss(3, 1.2)))):
                at = date + timedelta(minutes=rng.randrange(24 * 60))
                subject, intent = rng.choice(TICKET_TOPICS)
                first_response = at + timedelta(minutes=rng.randrange(20, 600 if recent else 180))
                resolved = at + timedelta(hours=rng.randrange(1, 48))
                is_open = resolved > now or (recent and rng.random() < 0.25)
                auto = not is_open and intent == "how_to" and rng.random() < 0.6
                ticket = Ticket(company=company, subject=subject, customer_email=f"customer.{day}.{n}@example.com",
                                intent=intent, created_at=at,
                                priority=Ticket.Priority.HIGH if intent == "refund_request" else Ticket.Priority.NORMAL,
                                status=Ticket.Status.OPEN if is_open else Ticket.Status.RESOLVED,
                                first_response_at=first_response if first_response < now else None,
                                resolved_at=None if is_open else resolved, auto_resolved=auto)
                messages = [TicketMessage(author=TicketMessage.Author.CUSTOMER, body=subject, created_at=at)]
                if ticket.first_response_at:
                    author = TicketMessage.Author.BOT if auto else TicketMessage.Author.PERSON
                    messages.append(TicketMessage(author=author, body="Thanks for reaching out, here is how to fix it.",
                                                  created_at=ticket.first_response_at))
                tickets.append((ticket, messages))
            if (day + 1) % 30 == 0:
                self.stdout.write(f"  generated day {day + 1}/{DAYS}")

        self.stdout.write(f"  writing {len(customers)} customers, {len(orders)} orders, {len(refunds)} refunds, "
                          f"{len(leads)} leads, {len(tickets)} tickets")
        Customer.objects.bulk_create(customers)
        # About seven in ten buyers ticked the marketing box at checkout (its own generator: the rest of the
        # history stays the same); only they receive win-back and reminder emails.
        consent_rng = random.Random(SEED + 1)
        CustomerConsent.objects.bulk_create([
            CustomerConsent(company=company, customer=c, status=CustomerConsent.Status.GRANTED,
                            source="checkout_form", wording=CHECKOUT_WORDING, recorded_at=c.created_at)
            for c in customers if consent_rng.random() < 0.7])
        Order.objects.bulk_create([o for o, _ in orders])
        OrderItem.objects.bulk_create([_attach(i, "order", o) for o, items in orders for i in items])
        Refund.objects.bulk_create([_attach(r, "order", r.order) for r in refunds])
        Lead.objects.bulk_create(leads)
        Ticket.objects.bulk_create([t for t, _ in tickets])
        TicketMessage.objects.bulk_create([_attach(m, "ticket", t) for t, messages in tickets for m in messages])

    def _playbook(self, company):
        """Load the company's KPIs and plays with the apps' own commands."""
        for name in ("load_kpis", "load_playbook"):
            call_command(name, company=company.slug, stdout=self.stdout)


def _attach(obj, field: str, parent):
    """Re-point a child at its parent after the parent got its primary key from bulk_create."""
    setattr(obj, field, parent)
    return obj

"""Factories for the core models; an order brings its company and customer."""

from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from autonomax.authentication import api_token_create
from autonomax.models import Company, Membership, Role
from commerce.models import Customer, CustomerConsent, Order, OrderItem, Product, Refund
from growth.models import Lead
from support.models import Ticket


class CompanyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Company
        django_get_or_create = ["slug"]

    slug = factory.Sequence(lambda n: f"company-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.replace("-", " ").title())


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.django.Password("correct horse battery staple")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    company = factory.SubFactory(CompanyFactory)
    role = Role.OWNER


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    company = factory.SubFactory(CompanyFactory)
    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    slug = factory.Sequence(lambda n: f"product-{n}")
    name = factory.Sequence(lambda n: f"Notion Budget Template {n}")
    price = Decimal("19.00")
    status = Product.Status.ACTIVE


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    company = factory.SubFactory(CompanyFactory)
    email = factory.Sequence(lambda n: f"buyer{n}@example.com")
    created_at = factory.LazyFunction(timezone.now)


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    company = factory.SubFactory(CompanyFactory)
    customer = factory.SubFactory(CustomerFactory, company=factory.SelfAttribute("..company"))
    status = Order.Status.PAID
    total = Decimal("19.00")
    created_at = factory.LazyFunction(timezone.now)
    paid_at = factory.LazyAttribute(lambda o: o.created_at if o.status != Order.Status.PENDING else None)


class OrderItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrderItem

    order = factory.SubFactory(OrderFactory)
    product = factory.SubFactory(ProductFactory, company=factory.SelfAttribute("..order.company"))
    title = factory.LazyAttribute(lambda o: o.product.name)
    unit_price = factory.LazyAttribute(lambda o: o.product.price)


class RefundFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Refund

    order = factory.SubFactory(OrderFactory)
    company = factory.SelfAttribute("order.company")
    amount = factory.LazyAttribute(lambda o: o.order.total)
    status = Refund.Status.SUCCEEDED
    created_at = factory.LazyFunction(timezone.now)


class LeadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lead

    company = factory.SubFactory(CompanyFactory)
    email = factory.Sequence(lambda n: f"lead{n}@example.com")
    source = "landing"
    score = 40
    consent = True
    created_at = factory.LazyFunction(timezone.now)


class TicketFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Ticket

    company = factory.SubFactory(CompanyFactory)
    subject = factory.Sequence(lambda n: f"Cannot download my file #{n}")
    customer_email = factory.Sequence(lambda n: f"customer{n}@example.com")
    created_at = factory.LazyFunction(timezone.now)


def member_with_token(*, company=None, role=Role.OWNER, username=None):
    """A user in `company` with `role`, and a raw API key for them."""
    membership = MembershipFactory(
        company=company or CompanyFactory(), role=role, **({"user__username": username} if username else {})
    )
    _, raw_key = api_token_create(user=membership.user, company=membership.company)
    return membership, raw_key


class CustomerConsentFactory(factory.django.DjangoModelFactory):
    """A recorded marketing-consent decision (granted unless told otherwise)."""

    class Meta:
        model = CustomerConsent

    customer = factory.SubFactory(CustomerFactory)
    company = factory.SelfAttribute("customer.company")
    status = CustomerConsent.Status.GRANTED
    source = "checkout_form"
    wording = "Email me about new products and offers."
    recorded_at = factory.LazyFunction(timezone.now)


def consenting_customer(**kwargs) -> Customer:
    """A customer who agreed to marketing email (a granted consent record, with its wording)."""
    customer = CustomerFactory(**kwargs)
    CustomerConsentFactory(customer=customer)
    return customer

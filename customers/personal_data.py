"""Customer intelligence holds scores about a person (no address or name): exported, and removed on erasure."""

from autonomax.privacy import Person, register
from commerce.models import Customer

from .models import CustomerProfile, SegmentMove


def _customer_ids(company, person: Person):
    return Customer.objects.filter(company=company, email__iexact=person.email).values_list("id", flat=True)


def export(company, person: Person) -> dict:
    ids = list(_customer_ids(company, person))
    return {
        "profile": list(CustomerProfile.objects.filter(company=company, customer_id__in=ids).values(
            "orders", "recency_days", "monetary", "r_score", "f_score", "m_score", "segment", "p_alive",
            "expected_purchases_90d", "expected_order_value", "predicted_value_12m", "updated_at")),
        "segment_history": list(SegmentMove.objects.filter(company=company, customer_id__in=ids).values(
            "from_segment", "to_segment", "moved_at")),
    }


def erase(company, person: Person) -> dict:
    ids = list(_customer_ids(company, person))
    moves, _ = SegmentMove.objects.filter(company=company, customer_id__in=ids).delete()
    profiles, _ = CustomerProfile.objects.filter(company=company, customer_id__in=ids).delete()
    return {"customers.SegmentMove": moves, "customers.CustomerProfile": profiles}


register("customers", models=(), export=export, erase=erase)

"""The catalog brain: POST /api/v1/products/draft through the AI engine (offline provider in tests)."""

import pytest

from autonomax.models import Event
from chimera.ai.models import AICall
from commerce.models import ProductDraft
from tests.factories import ProductFactory

from .factories import ProductDraftFactory

pytestmark = pytest.mark.django_db

BRIEF = {"category": "notion templates", "audience": "freelance designers",
         "keywords": ["notion client portal", "freelance crm"], "refs": ["https://example.com/ref"]}


def test_draft_from_brief_is_validated_scored_and_stored(owner_api, company):
    # given
    _, api = owner_api
    # when
    response = api.post("/api/v1/products/draft", BRIEF, format="json")
    # then
    assert response.status_code == 201, response.content
    body = response.json()
    draft = ProductDraft.objects.get(pk=body["id"])
    assert len(draft.title) <= 70 and draft.title.lower().startswith("notion client portal")
    assert draft.description and draft.tags and draft.price > 0
    assert set(draft.rubric) == {"readability", "intent_match", "uniqueness", "seo", "brand_fit"}
    assert all(0 <= v <= 5 for v in draft.rubric.values())
    assert body["gate_passed"] == (draft.rubric_average >= 4.0)
    assert draft.ai_provider
    assert AICall.objects.filter(company=company, task_type="product_draft").count() == 1
    assert Event.objects.filter(company=company, name="product.generated").count() == 1


def test_near_duplicate_title_is_flagged(owner_api, company):
    # given: the same brief twice
    _, api = owner_api
    first = api.post("/api/v1/products/draft", BRIEF, format="json").json()
    ProductFactory(company=company, name=first["title"])
    # when
    second = api.post("/api/v1/products/draft", BRIEF, format="json").json()
    # then
    assert first["title"] in second["near_duplicates"]


@pytest.mark.parametrize("brief", [{}, {"category": "x", "audience": "y", "keywords": []},
                                   {"category": "x", "audience": "y", "keywords": "not a list"}])
def test_bad_brief_is_400_and_nothing_generated(owner_api, company, brief):
    # given
    _, api = owner_api
    # when
    response = api.post("/api/v1/products/draft", brief, format="json")
    # then
    assert response.status_code == 400
    assert not ProductDraft.objects.exists() and not AICall.objects.exists()


def test_viewer_cannot_generate(viewer_api, company):
    # given
    _, api = viewer_api
    # when
    response = api.post("/api/v1/products/draft", BRIEF, format="json")
    # then
    assert response.status_code == 403


def test_promote_through_api_and_twice_gives_same_product(owner_api, company):
    # given
    _, api = owner_api
    draft = ProductDraftFactory(company=company)
    # when
    first = api.post(f"/api/v1/product-drafts/{draft.pk}/promote/")
    second = api.post(f"/api/v1/product-drafts/{draft.pk}/promote/")
    # then
    assert first.status_code == 200 and first.json()["id"] == second.json()["id"]
    assert first.json()["status"] == "active"


def test_dashboard_review_promotes_with_htmx(client, company):
    # given
    from tests.factories import MembershipFactory

    membership = MembershipFactory(company=company)
    client.force_login(membership.user)
    draft = ProductDraftFactory(company=company)
    # when
    page = client.get("/commerce/drafts/")
    response = client.post("/commerce/drafts/", {"draft_id": draft.pk, "action": "promote"}, HTTP_HX_REQUEST="true")
    # then
    assert page.status_code == 200 and draft.title in page.content.decode()
    assert response.status_code == 200 and f'id="draft-{draft.pk}"' in response.content.decode()
    draft.refresh_from_db()
    assert draft.status == ProductDraft.Status.PROMOTED and draft.product.status == "active"


def test_dashboard_viewer_cannot_promote(client, company):
    # given
    from autonomax.models import Role
    from tests.factories import MembershipFactory

    membership = MembershipFactory(company=company, role=Role.VIEWER)
    client.force_login(membership.user)
    draft = ProductDraftFactory(company=company)
    # when
    client.post("/commerce/drafts/", {"draft_id": draft.pk, "action": "promote"})
    # then
    draft.refresh_from_db()
    assert draft.status == ProductDraft.Status.DRAFT


@pytest.mark.parametrize("draft_id", ["abc", "1.5", "", "-1"])
def test_dashboard_garbage_draft_id_is_a_message_not_a_500(client, company, draft_id):
    # given
    from tests.factories import MembershipFactory

    membership = MembershipFactory(company=company)
    client.force_login(membership.user)
    draft = ProductDraftFactory(company=company)
    # when
    response = client.post("/commerce/drafts/", {"draft_id": draft_id, "action": "promote"}, follow=True)
    # then
    assert response.status_code == 200 and "No such draft or action." in response.content.decode()
    draft.refresh_from_db()
    assert draft.status == ProductDraft.Status.DRAFT

"""Dashboard pages: catalog drafts (list with promote, override, reject in HTMX rows that degrade to posts; a
detail page that also edits and publishes) and orders."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views import View

from autonomax.errors import AppError, NotFoundError
from autonomax.tenancy import CompanyViewMixin, can_operate

from .models import Order, ProductDraft
from .selectors import order_for_company, orders_overview
from .services.drafts import draft_gate_override, draft_promote, draft_reject, draft_update
from .services.publishing import listing_publish, shopify_connected


def _draft_or_404(company, pk) -> ProductDraft:
    draft = ProductDraft.objects.filter(company=company, pk=pk).select_related(
        "product", "gate_override_by", "edited_by").first()
    if draft is None:
        raise Http404("No such draft in this company.")
    return draft


def _draft_act(*, request, company, draft: ProductDraft, action: str) -> str:
    """Run one review action through the commerce services; returns what to tell the person."""
    if action == "promote":
        product = draft_promote(draft=draft, actor=request.user)
        return f"Promoted: {product.name} is for sale at /p/{product.slug}/."
    if action == "override":
        reason = request.POST.get("reason", "").strip()
        if not reason:
            raise AppError("Say why this draft may pass the quality gate.", code="invalid", details={"field": "reason"})
        draft_gate_override(draft=draft, actor=request.user, reason=reason)
        return "Quality gate overridden; the draft can be promoted."
    if action == "reject":
        draft_reject(draft=draft)
        return "Rejected."
    if action == "edit":
        draft_update(draft=draft, actor=request.user, title=request.POST.get("title", ""),
                     description=request.POST.get("description", ""), price=request.POST.get("price", ""),
                     tags=request.POST.get("tags", "").split(","))
        return "Saved."
    if action == "publish":
        price = request.POST.get("price", "").strip()
        listing = listing_publish(company=company, draft_or_product=draft.product or draft, channel="shopify",
                                  pricing={"price": price} if price else None, actor=request.user)
        return f"Published on Shopify: {listing.url or listing.external_id}."
    raise NotFoundError("No such action.")


class DraftReviewView(CompanyViewMixin, View):
    def get(self, request):
        drafts = ProductDraft.objects.filter(company=self.company).select_related("product")[:100]
        response = render(request, "commerce/drafts.html", {"drafts": drafts})
        response["Vary"] = "HX-Request"
        return response

    def post(self, request):
        if not can_operate(self.membership):
            messages.error(request, "Your role in this company does not allow this action.")
            return redirect("commerce:drafts")
        draft_id = request.POST.get("draft_id", "")
        # A non-numeric id is "no such draft", not a ValueError from the lookup.
        draft = (ProductDraft.objects.filter(company=self.company, pk=int(draft_id)).first()
                 if draft_id.isdigit() else None)
        action = request.POST.get("action", "")
        error = None
        try:
            if draft is None or action not in ROW_ACTIONS:
                raise NotFoundError("No such draft or action.")
            _draft_act(request=request, company=self.company, draft=draft, action=action)
        except AppError as exc:
            error = exc.message
        if request.htmx and draft is not None:
            draft.refresh_from_db()
            return render(request, "commerce/_draft_row.html", {"draft": draft, "error": error})
        if error:
            messages.error(request, error)
        return redirect("commerce:drafts")


ROW_ACTIONS = {"promote", "override", "reject"}


class DraftDetailView(CompanyViewMixin, View):
    """One draft: its brief, generated content, rubric, deliverable; edit, override, promote, publish, reject."""

    def get(self, request, pk: int, *, error: str = "", status: int = 200):
        draft = _draft_or_404(self.company, pk)
        return render(request, "commerce/draft_detail.html", {
            "draft": draft, "error": error, "rubric_rows": sorted((name.replace("_", " ").capitalize(), score)
                                                                for name, score in (draft.rubric or {}).items()),
            "gate_min": ProductDraft.GATE_MIN_AVERAGE, "shopify_connected": shopify_connected(company=self.company),
        }, status=status)

    def post(self, request, pk: int):
        draft = _draft_or_404(self.company, pk)
        if not can_operate(self.membership):
            return self.get(request, pk, error="Your role in this company does not allow this action.", status=403)
        try:
            messages.success(request, _draft_act(request=request, company=self.company, draft=draft,
                                                 action=request.POST.get("action", "")))
        except AppError as exc:
            return self.get(request, pk, error=exc.message, status=exc.status)
        return redirect("commerce:draft", pk=draft.pk)


PERIODS = (7, 30, 90)


class OrderListView(CompanyViewMixin, View):
    def get(self, request):
        days = int(request.GET["days"]) if request.GET.get("days") in {str(p) for p in PERIODS} else 30
        status = request.GET.get("status", "")
        status = status if status in Order.Status.values else ""
        context = orders_overview(company=self.company, days=days, status=status)
        return render(request, "commerce/orders.html", {**context, "periods": PERIODS,
                                                         "statuses": Order.Status.choices})


class OrderDetailView(CompanyViewMixin, View):
    def get(self, request, pk: int):
        order = order_for_company(company=self.company, pk=pk)
        if order is None:
            raise Http404("No such order in this company.")
        return render(request, "commerce/order_detail.html", {"order": order})

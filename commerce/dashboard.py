"""Dashboard pages: catalog drafts (promote, override the gate, reject; HTMX, degrades to posts) and orders."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views import View

from autonomax.errors import AppError, NotFoundError
from autonomax.tenancy import CompanyViewMixin, can_operate

from .models import Order, ProductDraft
from .selectors import order_for_company, orders_overview
from .services.drafts import draft_gate_override, draft_promote, draft_reject

ACTIONS = {"promote": draft_promote, "override": draft_gate_override, "reject": draft_reject}


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
        action = ACTIONS.get(request.POST.get("action", ""))
        error = None
        try:
            if draft is None or action is None:
                raise NotFoundError("No such draft or action.")
            if action is draft_reject:
                action(draft=draft)
            else:
                action(draft=draft, actor=request.user)
        except AppError as exc:
            error = exc.message
        if request.htmx and draft is not None:
            draft.refresh_from_db()
            return render(request, "commerce/_draft_row.html", {"draft": draft, "error": error})
        if error:
            messages.error(request, error)
        return redirect("commerce:drafts")


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

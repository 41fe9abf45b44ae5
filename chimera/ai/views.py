"""The AI engine's dashboard page: today's spend vs cap, calls by provider, failure and fallback rates."""

from django.contrib import messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.decorators.vary import vary_on_headers
from django.views.generic import TemplateView, View

from autonomax.errors import AppError
from autonomax.tenancy import CompanyViewMixin, can_operate

from .selectors import ai_call_list, ai_provider_status, ai_spend_by_day, ai_spend_summary
from .services import ai_routing_preference_set


@method_decorator(vary_on_headers("HX-Request"), name="dispatch")
class AIPanelView(CompanyViewMixin, TemplateView):
    """Full page, or just the spend panel when htmx asks for it (polling)."""

    def get_template_names(self):
        if getattr(self.request, "htmx", False):
            return ["chimera/ai/_spend_panel.html"]
        return ["chimera/ai/panel.html"]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["summary"] = ai_spend_summary(company=self.company)
        if not getattr(self.request, "htmx", False):
            context["calls"] = ai_call_list(company=self.company, limit=20)
            context["providers"] = ai_provider_status()
            context["spend_by_day"] = ai_spend_by_day(company=self.company, today=context["summary"]["day"])
        return context


class RoutingPreferenceView(CompanyViewMixin, View):
    """Operators switch the company between its default routes and the cost-optimised route."""

    def post(self, request):
        if not can_operate(self.membership):
            messages.error(request, "Your role in this company does not allow this action.")
            return HttpResponseRedirect(reverse("chimera_ai:panel"))
        try:
            preference = ai_routing_preference_set(
                company=self.company, preference=request.POST.get("preference", ""), actor=request.user,
                reason=request.POST.get("reason", "")[:500] or "changed in the AI engine panel",
            )
        except AppError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"AI routing is now: {preference.replace('_', ' ')}.")
        return HttpResponseRedirect(reverse("chimera_ai:panel"))

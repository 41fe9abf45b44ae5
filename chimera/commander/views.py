"""The Command Center (`/`), mission decisions inline (HTMX), switches, the weekly review, unsubscribe."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from autonomax.connections import connection_warnings
from autonomax.errors import AppError
from autonomax.models import Role
from autonomax.services import company_halt_change
from autonomax.tenancy import can_operate, request_membership

from .selectors import (
    command_center,
    evidence_view,
    mission_card,
    mission_for_company,
    mission_story,
    onboarding_checklist,
    portfolio,
)
from .services.evidence import weekly_review
from .services.jobs import GLOBAL_HALT_SWITCH, company_halt_switch, global_halt_set
from .services.missions import company_autopilot_set, mission_approve, mission_reject, mission_retry
from .services.onboarding import onboarding_playbook_load, onboarding_report_reviewed, onboarding_silent_cycle


def _panels(request) -> dict:
    membership = request_membership(request)
    company = membership.company
    context = command_center(company=company, role=membership.role)
    from kpis.selectors import kpi_board  # noqa: PLC0415 - the project's KPI strip

    context["kpi_cards"] = kpi_board(company=company)
    from chimera.ai.selectors import ai_spend_summary  # noqa: PLC0415

    context["spend"] = ai_spend_summary(company=company)
    from commerce.selectors import sales_compare  # noqa: PLC0415

    context["sales"] = sales_compare(company=company, days=7)
    import waffle  # noqa: PLC0415

    context["global_halt"] = waffle.switch_is_active(GLOBAL_HALT_SWITCH)
    context["halt_change"] = company_halt_change(company=company)
    context["connection_warnings"] = connection_warnings(company=company)
    context["onboarding"] = onboarding_checklist(company=company) if membership.role == Role.OWNER else None
    return context


@login_required
@vary_on_headers("HX-Request")
def dashboard(request):
    """The Command Center; an HTMX request (auto-refresh) gets only the live panels."""
    context = _panels(request)
    if request.htmx:
        return render(request, "commander/_live.html", context)
    return render(request, "commander/command_center.html", context)


@login_required
def portfolio_page(request):
    """`/portfolio/`: every company of the person side by side; switching goes to its Command Center."""
    return render(request, "commander/portfolio.html", {"rows": portfolio(user=request.user)})


@login_required
def mission_page(request, pk: int):
    """`/missions/<id>/`: the mission's story, with approve/reject/retry on its card."""
    membership = request_membership(request)
    story = mission_story(company=membership.company, pk=pk, role=membership.role)
    if story is None:
        raise Http404("No such mission in this company.")
    return render(request, "commander/mission.html", story)


@login_required
@require_POST
def mission_decide(request, pk: int, decision: str):
    """Approve or reject; HTMX gets the updated card in place, a normal form post is redirected back."""
    membership = request_membership(request)
    mission = mission_for_company(company=membership.company, pk=pk)
    if mission is None:
        return HttpResponse("Unknown mission.", status=404)
    service = {"approve": mission_approve, "reject": mission_reject, "retry": mission_retry}[decision]
    try:
        # hx-prompt sends the reason in a header; the plain form in the body.
        reason = request.POST.get("reason") or request.headers.get("HX-Prompt", "")
        mission = service(mission=mission, actor=request.user, reason=reason[:2000])
    except AppError as exc:
        if request.htmx:
            return HttpResponse(exc.message, status=exc.status)
        if exc.status == 403:
            return HttpResponse(exc.message, status=403)
        messages.error(request, exc.message)
        return HttpResponseRedirect(reverse("dashboard"))
    if request.htmx:
        mission = mission_for_company(company=membership.company, pk=pk)
        return render(request, "commander/_mission.html", {"card": mission_card(mission=mission,
                                                                                 role=membership.role)})
    messages.success(request, f"Mission {mission.pk} is now {mission.get_status_display().lower()}.")
    return HttpResponseRedirect(reverse("dashboard"))


@login_required
@require_POST
def company_switches(request):
    """The company kill switch (operators/owners), autopilot (owners, with a reason), the global switch
    (superusers)."""
    membership = request_membership(request)
    if not can_operate(membership):
        return HttpResponse("Your role in this company does not allow this action.", status=403)
    company = membership.company
    given = request.POST.get("reason", "").strip()[:500]
    reason = given or "from the Command Center"
    switch, on = request.POST.get("switch"), request.POST.get("on") == "1"
    try:
        if switch == "halt":
            company_halt_switch(company=company, halted=on, actor=request.user, reason=reason)
        elif switch == "autopilot":
            # Owners only, and turning it on takes the person's own reason (the service refuses otherwise).
            company_autopilot_set(company=company, on=on, actor=request.user, reason=given or ("" if on else reason))
        elif switch == "halt_all":
            global_halt_set(halted=on, actor=request.user, reason=reason)
        else:
            return HttpResponse("Unknown switch.", status=400)
    except AppError as exc:
        return HttpResponse(exc.message, status=exc.status)
    return HttpResponseRedirect(reverse("dashboard"))


@login_required
def review(request):
    membership = request_membership(request)
    review = weekly_review(company=membership.company)
    review["charts"] = [evidence_view(record=r) for r in review["records"]]
    return render(request, "commander/weekly_review.html", review)


@csrf_exempt  # RFC 8058: the mail client POSTs "List-Unsubscribe=One-Click" with no session or CSRF token;
@require_http_methods(["GET", "POST"])  # the signed token in the URL is the proof.
def unsubscribe(request, token: str):
    """GET shows the button (mail scanners follow links), POST unsubscribes (the button, or one click)."""
    from growth.services import lead_unsubscribe  # noqa: PLC0415

    if request.method == "GET":
        return render(request, "commander/unsubscribe.html", {"token": token, "done": False})
    try:
        company, email = lead_unsubscribe(token=token)
    except AppError as exc:
        return render(request, "commander/unsubscribe.html", {"error": exc.message}, status=400)
    return render(request, "commander/unsubscribe.html", {"done": True, "company": company, "email": email})


ONBOARDING_ACTIONS = {"playbook": onboarding_playbook_load, "silent_cycle": onboarding_silent_cycle,
                      "reviewed": onboarding_report_reviewed}


@login_required
@require_http_methods(["GET", "POST"])
def onboarding(request):
    """The owner's checklist with the silent cycle's report; the steps are the owner's to take."""
    membership = request_membership(request)
    if request.method == "POST":
        action = ONBOARDING_ACTIONS.get(request.POST.get("action", ""))
        if membership.role != Role.OWNER:
            return HttpResponse("Only an owner takes the onboarding steps.", status=403)
        if action is None:
            return HttpResponse("Unknown step.", status=400)
        try:
            action(company=membership.company, actor=request.user)
        except AppError as exc:
            messages.error(request, exc.message)
        return HttpResponseRedirect(reverse("onboarding"))
    checklist = onboarding_checklist(company=membership.company)
    report = checklist["report"]
    return render(request, "commander/onboarding.html", {
        "checklist": checklist, "report": report, "is_owner": membership.role == Role.OWNER,
        "kpi_rows": sorted((report or {}).get("kpis", {}).items())})

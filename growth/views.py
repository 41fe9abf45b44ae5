"""Growth pages: the public lead form, the double opt-in link, the tracking pixel and links, the lead dashboard."""

import base64
import hashlib
import logging

from django.core.cache import cache
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from autonomax.errors import AppError
from autonomax.models import Company
from autonomax.tenancy import request_membership

from . import selectors
from .capture import UTM_KEYS, CaptureInput, LeadInvalid, growth_settings_for, lead_capture, lead_confirm
from .events import track_hit
from .models import LeadEvent, LeadTouch

logger = logging.getLogger(__name__)

HONEYPOT = "website"  # hidden from people by CSS; bots fill every field
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
RATE_WINDOW = 3600


def client_ip(request) -> str:
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def _rate_limited(*, company: Company, ip: str, limit: int) -> bool:
    """Fixed one-hour window per company and IP; every post counts (honeypot hits and errors too)."""
    window = int(timezone.now().timestamp()) // RATE_WINDOW
    stamp = int(company.created_at.timestamp() * 1e6)  # a recreated company never inherits old counters
    digest = hashlib.sha256(ip.encode()).hexdigest()[:24]
    key = f"growth:form:{company.pk}:{stamp}:{digest}:{window}"
    cache.add(key, 0, timeout=RATE_WINDOW + 60)
    try:
        count = cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, timeout=RATE_WINDOW + 60)
        count = 1
    return count > limit


@xframe_options_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def lead_form(request, company_slug: str):
    """The embeddable sign-up form: CSRF token, honeypot, UTM from the page, consent wording, rate limit."""
    company = get_object_or_404(Company, slug=company_slug, is_active=True)
    group = growth_settings_for(company=company)
    utm = {k: request.GET.get(f"utm_{k}", "")[:100] for k in UTM_KEYS}
    context = {"company": company, "wording": group.consent_wording, "require_consent": group.require_consent,
               "utm": utm, "honeypot": HONEYPOT, "page_url": request.GET.get("page", "")[:500], "values": {}}
    if request.method == "GET":
        return render(request, "growth/lead_form.html", context)
    post = request.POST
    if _rate_limited(company=company, ip=client_ip(request), limit=group.form_rate_limit):
        context["error"] = "Too many sign-ups from your network; please try again in an hour."
        return render(request, "growth/lead_form.html", context, status=429)
    if post.get(HONEYPOT):
        logger.info("lead form %s: honeypot filled, nothing stored", company.slug)
        return render(request, "growth/lead_form.html", {**context, "done": True, "pending": True})
    utm = {k: post.get(f"utm_{k}", "") for k in UTM_KEYS}
    consented = post.get("consent") == "yes"
    fields = {k: post.get(k, "").strip() for k in ("company_size", "interest") if post.get(k, "").strip()}
    data = CaptureInput(email=post.get("email", ""), name=post.get("name", ""), source=post.get("source") or "form",
                        utm={k: v for k, v in utm.items() if v}, consent_marketing=consented,
                        consent_text=group.consent_wording if consented else "", fields=fields,
                        page_url=post.get("page_url", ""))
    try:
        lead, _ = lead_capture(company=company, data=data, channel=LeadTouch.Channel.FORM)
    except LeadInvalid as exc:
        context.update(errors=exc.details, values=post, utm=utm)
        return render(request, "growth/lead_form.html", context, status=400)
    return render(request, "growth/lead_form.html",
                  {**context, "done": True, "pending": consented and not lead.consent})


@never_cache
@require_http_methods(["GET", "POST"])
def lead_confirm_view(request, company_slug: str, token: str):
    """GET shows the button (mail scanners follow links), POST confirms."""
    company = get_object_or_404(Company, slug=company_slug, is_active=True)
    if request.method == "GET":
        return render(request, "growth/confirm.html", {"company": company, "done": False})
    try:
        lead = lead_confirm(company_slug=company_slug, token=token)
    except AppError as exc:
        return render(request, "growth/confirm.html", {"company": company, "error": exc.message}, status=400)
    return render(request, "growth/confirm.html", {"company": company, "done": True, "email": lead.email})


def _pixel() -> HttpResponse:
    response = HttpResponse(PIXEL, content_type="image/gif")
    response["Cache-Control"] = "no-store, max-age=0"
    return response


@require_GET
def track_page(request, token: str):
    """Page-view pixel: <img src=".../t/p/<token>.gif?path=/pricing">; always answers the GIF."""
    track_hit(token=token, kind=LeadEvent.Type.PAGE_VIEW, path=request.GET.get("path", ""),
              key=request.GET.get("k", ""))
    return _pixel()


@require_GET
def track_open(request, token: str):
    track_hit(token=token, kind=LeadEvent.Type.EMAIL_OPEN)
    return _pixel()


@require_GET
def track_click(request, token: str):
    """A tracked link: records the click once per message and link, then redirects to the signed target."""
    data = track_hit(token=token, kind=LeadEvent.Type.EMAIL_CLICK)
    if data is None or not str(data.get("u", "")).startswith(("https://", "http://")):
        raise Http404("Unknown link.")
    return HttpResponseRedirect(data["u"])


@csrf_exempt  # RFC 8058: the mail provider POSTs "List-Unsubscribe=One-Click" with no cookie; the token is signed
@never_cache
@require_http_methods(["GET", "POST"])
def one_click_unsubscribe(request, token: str):
    """GET shows a button (mail scanners follow links); POST, from the button or the mail client, unsubscribes."""
    from .services import lead_unsubscribe  # noqa: PLC0415

    if request.method == "GET":
        return render(request, "growth/unsubscribe.html", {"done": False})
    try:
        company, email = lead_unsubscribe(token=token)
    except AppError as exc:
        return render(request, "growth/unsubscribe.html", {"error": exc.message}, status=400)
    return render(request, "growth/unsubscribe.html", {"done": True, "company": company, "email": email})


# --- Dashboard -------------------------------------------------------------------------------


def leads_page(request):
    if not request.user.is_authenticated:
        return HttpResponseRedirect(f"/accounts/login/?next={request.path}")
    company = request_membership(request).company
    context = selectors.leads_dashboard(company=company)
    context["form_url"] = request.build_absolute_uri(f"/f/{company.slug}/lead/")
    return render(request, "growth/leads.html", context)


def lead_page(request, pk: int):
    if not request.user.is_authenticated:
        return HttpResponseRedirect(f"/accounts/login/?next={request.path}")
    company = request_membership(request).company
    lead = selectors.lead_for_company(company=company, pk=pk)
    if lead is None:
        raise Http404("No such lead.")
    return render(request, "growth/lead.html", {"lead": lead, "timeline": selectors.lead_timeline(lead=lead)})


def sequences_page(request):
    if not request.user.is_authenticated:
        return HttpResponseRedirect(f"/accounts/login/?next={request.path}")
    company = request_membership(request).company
    return render(request, "growth/sequences.html", {"sequences": selectors.sequences_with_performance(
        company=company)})


def experiments_page(request):
    if not request.user.is_authenticated:
        return HttpResponseRedirect(f"/accounts/login/?next={request.path}")
    from .experiments import experiment_readout  # noqa: PLC0415
    from .models import Experiment  # noqa: PLC0415

    company = request_membership(request).company
    rows = [{"experiment": e, "readout": experiment_readout(experiment=e)}
            for e in Experiment.objects.filter(company=company).prefetch_related("variants")[:50]]
    return render(request, "growth/experiments.html", {"rows": rows})


def campaigns_page(request):
    if not request.user.is_authenticated:
        return HttpResponseRedirect(f"/accounts/login/?next={request.path}")
    from .campaigns import campaign_preview, campaign_results  # noqa: PLC0415
    from .models import Campaign  # noqa: PLC0415

    company = request_membership(request).company
    rows = [{"campaign": c, "preview": campaign_preview(campaign=c), "results": campaign_results(campaign=c)}
            for c in Campaign.objects.filter(company=company).prefetch_related("contents")[:20]]
    return render(request, "growth/campaigns.html", {"rows": rows})

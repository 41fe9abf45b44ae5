"""Support pages: the public contact form per company; thin over the ticket services."""

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from autonomax.errors import AppError
from autonomax.models import Company

from .forms import ContactForm
from .sla_watch import csat_record
from .tickets import Inbound, support_settings_for, ticket_receive


@require_http_methods(["GET", "POST"])
def contact(request: HttpRequest, slug: str) -> HttpResponse:
    """/f/<company-slug>/contact/: a customer writes in; the ticket's reference is shown and emailed replies
    thread into it."""
    company = Company.objects.filter(slug=slug, is_active=True).first()
    if company is None or not support_settings_for(company).contact_form_enabled:
        raise Http404("No such contact form.")
    form = ContactForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if data["website"]:
            return render(request, "support/contact_thanks.html", {"company": company, "ticket": None})
        try:
            received = ticket_receive(company=company, inbound=Inbound(
                email=data["email"], name=data["name"], subject=data["subject"], body=data["message"],
                channel="web"))
        except AppError as exc:
            form.add_error(None, exc.message)
        else:
            return render(request, "support/contact_thanks.html", {"company": company, "ticket": received.ticket},
                          status=201)
    status = 400 if request.method == "POST" else 200
    return render(request, "support/contact.html", {"company": company, "form": form}, status=status)


def csat(request: HttpRequest, token: str) -> HttpResponse:
    """/support/csat/<token>/?score=1..5: the link in the survey email stores the rating."""
    try:
        ticket = csat_record(token=token, score=request.GET.get("score") or request.POST.get("score"))
    except AppError as exc:
        return render(request, "support/csat.html", {"error": exc.message}, status=exc.status)
    return render(request, "support/csat.html", {"ticket": ticket})

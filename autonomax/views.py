"""Dashboard shell views (the Command Center at `/` is the commander's)."""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponseRedirect, JsonResponse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import defaults
from django.views.decorators.http import require_POST

from .errors import error_body
from .tenancy import SESSION_KEY, membership_resolve


@login_required
@require_POST
def company_switch(request):
    """Choose the company the dashboard acts for (must be one the user belongs to)."""
    membership = membership_resolve(user=request.user, slug=request.POST.get("company", ""))
    request.session[SESSION_KEY] = membership.company.slug
    target = request.POST.get("next", "/")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = "/"
    return HttpResponseRedirect(target)


def page_not_found(request, exception):
    """404 for a URL no route matches: API clients get the API's JSON error shape, people the HTML page."""
    if request.path.startswith("/api/"):
        return JsonResponse(error_body(code="not_found", message="Not found."), status=404)
    return defaults.page_not_found(request, exception)

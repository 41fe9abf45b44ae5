"""KPI board and KPI detail: thin HTML/HTMX views over the selectors."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.utils.cache import patch_vary_headers

from autonomax.tenancy import request_membership

from .selectors import kpi_board, kpi_detail


def _render(request, page: str, fragment: str, context: dict):
    # One URL serves the page and, for HTMX refreshes, just its fragment.
    response = render(request, fragment if request.htmx else page, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_required
def board(request):
    company = request_membership(request).company
    return _render(request, "kpis/board.html", "kpis/_board.html", {"kpi_cards": kpi_board(company=company)})


@login_required
def detail(request, key: str):
    company = request_membership(request).company
    data = kpi_detail(company=company, key=key)
    if data is None:
        raise Http404("Unknown KPI.")
    return _render(request, "kpis/detail.html", "kpis/_detail.html", data)

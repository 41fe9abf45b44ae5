"""`/settings/connections/`: an owner connects the company's outside services (owners only)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from .connections import KINDS, connection_check, connection_remove, connection_save, connections_overview
from .errors import AppError
from .models import Role
from .tenancy import request_membership


@login_required
@require_http_methods(["GET", "POST"])
def connections(request):
    membership = request_membership(request)
    if membership.role != Role.OWNER:
        raise PermissionDenied("Only an owner manages the company's connections.")
    company = membership.company
    errors, status = {}, 200
    if request.method == "POST":
        kind, action = request.POST.get("kind", ""), request.POST.get("action", "")
        try:
            if action == "save":
                values = {f.name: request.POST.get(f.name, "") for f in KINDS[kind].fields} if kind in KINDS else {}
                connection = connection_save(company=company, kind=kind, values=values, actor=request.user)
                messages.success(request, f"Saved. {connection.status_message}")
            elif action == "check":
                connection = connection_check(company=company, kind=kind)
                (messages.success if connection.status == connection.Status.OK else messages.error)(
                    request, connection.status_message)
            elif action == "remove":
                connection_remove(company=company, kind=kind, actor=request.user)
                messages.success(request, "Removed: the environment's defaults apply again.")
            else:
                raise AppError("Unknown action.")
            return redirect("connections")
        except AppError as exc:
            errors[kind], status = exc.message, exc.status
    overview = [{**row, "error": errors.get(row["kind"].key, "")} for row in connections_overview(company=company)]
    return render(request, "connections.html", {"overview": overview}, status=status)

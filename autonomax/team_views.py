"""Team pages: `/settings/team/` (owners invite, change roles, remove) and `/invite/<token>/` (accept)."""

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import UserCreationForm
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from .errors import AppError
from .models import Role
from .team import (
    invitation_accept,
    invitation_by_token,
    invitation_create,
    invitation_revoke,
    invitations_open,
    membership_remove,
    membership_role_set,
    team_members,
)
from .tenancy import SESSION_KEY, request_membership


class InviteForm(forms.Form):
    email = forms.EmailField(max_length=254)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)


class NewAccountForm(UserCreationForm):
    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username",)


@login_required
@require_http_methods(["GET", "POST"])
def team(request):
    membership = request_membership(request)
    company = membership.company
    form = InviteForm()
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "invite":
                form = InviteForm(request.POST)
                if form.is_valid():
                    invitation, _ = invitation_create(company=company, actor=request.user, **form.cleaned_data)
                    messages.success(request, f"Invitation sent to {invitation.email}.")
                    return redirect("team")
            elif action in ("role", "remove", "revoke") and request.POST.get("id", "").isdigit():
                pk = int(request.POST["id"])
                if action == "role":
                    membership_role_set(company=company, actor=request.user, membership_id=pk,
                                        role=request.POST.get("role", ""))
                elif action == "remove":
                    membership_remove(company=company, actor=request.user, membership_id=pk)
                else:
                    invitation_revoke(company=company, actor=request.user, invitation_id=pk)
                messages.success(request, "Saved.")
                return redirect("team")
            else:
                messages.error(request, "Unknown action.")
        except AppError as exc:
            messages.error(request, exc.message)
    is_owner = membership.role == Role.OWNER
    return render(request, "team.html", {
        "members": team_members(company=company), "invitations": invitations_open(company=company) if is_owner else [],
        "form": form, "is_owner": is_owner, "roles": Role.choices}, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
def invitation(request, token: str):
    """Accept an invitation: a signed-in person joins at once; a newcomer creates an account first."""
    try:
        invite = invitation_by_token(token=token)
    except AppError as exc:
        return render(request, "invitation.html", {"error": exc.message}, status=exc.status)
    form = NewAccountForm()
    if request.method == "POST":
        if not request.user.is_authenticated:
            form = NewAccountForm(request.POST)
            if not form.is_valid():
                return render(request, "invitation.html", {"invite": invite, "form": form}, status=400)
            user = form.save(commit=False)
            user.email = invite.email
            user.save()
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        try:
            joined = invitation_accept(token=token, user=request.user)
        except AppError as exc:
            return render(request, "invitation.html", {"error": exc.message}, status=exc.status)
        request.session[SESSION_KEY] = joined.company.slug
        messages.success(request, f"Welcome to {joined.company.name}: you are {joined.get_role_display().lower()}.")
        return redirect("/")
    return render(request, "invitation.html", {"invite": invite, "form": form,
                                               "login_url": f"{reverse('login')}?next={request.path}"})

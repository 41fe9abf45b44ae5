"""Tenant scoping: the one place that decides which company a request acts for.

The API (permission class + viewset mixin), the dashboard (view mixin) and the
admin (CompanyScopedAdmin in autonomax.admin) all resolve the company here and
filter every company-owned query by it.
"""

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import permissions

from .errors import NotFoundError
from .models import APIToken, Company, Membership, Role

SESSION_KEY = "company_slug"
HEADER = "HTTP_X_COMPANY"


def membership_resolve(*, user, slug: str | None = None, token=None) -> Membership:
    """The caller's membership in the company it asked for.

    A token is bound to one company; a session user picks one by slug (header,
    URL or session) and falls back to their first membership. A company the
    user is not a member of is reported as not found, so its existence does
    not leak. Superusers act as owners of any company.
    """
    if not user or not user.is_authenticated:
        raise PermissionDenied("Authentication required.")
    if token is not None:
        if slug and slug != token.company.slug:
            raise Http404("Unknown company.")
        if getattr(token, "member_id", None):  # looked up with the token (authentication.py)
            return Membership(pk=token.member_id, user=user, company=token.company, role=token.member_role)
        slug = token.company.slug
    memberships = Membership.objects.select_related("company").filter(user=user, company__is_active=True)
    if slug:
        membership = memberships.filter(company__slug=slug).first()
        if membership is None and user.is_superuser:
            company = Company.objects.filter(slug=slug, is_active=True).first()
            membership = company and Membership(user=user, company=company, role=Role.OWNER)
        if membership is None:
            raise Http404("Unknown company.")
        return membership
    membership = memberships.order_by("company__name").first()
    if membership is None and user.is_superuser:
        company = Company.objects.filter(is_active=True).order_by("name").first()
        membership = company and Membership(user=user, company=company, role=Role.OWNER)
    if membership is None:
        raise PermissionDenied("You are not a member of any company.")
    return membership


def request_membership(request, slug: str | None = None) -> Membership:
    """Resolve once per request and remember it on the request."""
    cached = getattr(request, "membership", None)
    if cached is not None and (slug is None or cached.company.slug == slug):
        return cached
    token = getattr(request, "auth", None)
    token = token if isinstance(token, APIToken) else None
    explicit = slug or request.META.get(HEADER)
    chosen = explicit if token else explicit or request.session.get(SESSION_KEY)
    try:
        membership = membership_resolve(user=request.user, slug=chosen, token=token)
    except Http404:
        if explicit or token:
            raise
        # A stale dashboard choice (membership since removed) falls back to the default company.
        request.session.pop(SESSION_KEY, None)
        membership = membership_resolve(user=request.user)
    request.membership = membership
    request.company = membership.company
    return membership


def can_operate(membership: Membership) -> bool:
    return membership.role in (Role.OWNER, Role.OPERATOR)


def access_company_object(model, *, company, pk):
    """A company-owned row by id for a view that takes the id from the request body; another
    company's row is reported as not found, like a missing one."""
    obj = model.objects.filter(company=company, pk=pk).first()
    if obj is None:
        raise NotFoundError(f"{model._meta.verbose_name.capitalize()} {pk} not found.")
    return obj


class IsCompanyMember(permissions.BasePermission):
    """DRF default permission: authenticated and a member of the company in scope."""

    def has_permission(self, request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        request_membership(request, slug=view.kwargs.get("company_slug"))
        # The DRF request wraps the Django one; the dashboard and services read it from either.
        request._request.company = request.company
        request._request.membership = request.membership
        return True


class CanOperate(IsCompanyMember):
    """Writes that change what the company does: owners and operators, never viewers."""

    message = "Your role in this company does not allow this action."

    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        return request.method in permissions.SAFE_METHODS or can_operate(request.membership)


class CompanyScopedAPIMixin:
    """For DRF views over company-owned models: every query filtered by the caller's company."""

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no company
            return super().get_queryset().none()
        return super().get_queryset().filter(company=self.request.company)

    def perform_create(self, serializer):
        serializer.save(company=self.request.company)


class CompanyViewMixin(LoginRequiredMixin):
    """For dashboard views: login required, `self.company` and `self.membership` set."""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.membership = request_membership(request)
        self.company = self.membership.company
        return super().dispatch(request, *args, **kwargs)


def company_context(request) -> dict:
    """Template context: the company in scope and the ones the user can switch to."""
    membership = getattr(request, "membership", None)
    if membership is None:
        return {}
    return {
        "current_company": membership.company,
        "current_membership": membership,
        "can_operate": can_operate(membership),
        "switchable_companies": lambda: list(
            Company.objects.filter(memberships__user=request.user, is_active=True).order_by("name")
        ),
    }

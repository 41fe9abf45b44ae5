from django.contrib import admin
from django.contrib.admin.filters import RelatedFieldListFilter
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group, User
from django.utils.html import format_html, format_html_join
from unfold.admin import ModelAdmin, TabularInline
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm

from .models import APIToken, Company, ConfigChange, Event, Membership, Role


def user_company_ids(user, roles=tuple(Role.values)) -> list[int]:
    return list(Membership.objects.filter(user=user, role__in=roles).values_list("company_id", flat=True))


def scoped_choices_queryset(user, model):
    """What a person may be offered of `model` in the admin (filters, foreign-key choices): for a
    non-superuser only their companies, their companies' rows and their companies' members."""
    if user.is_superuser:
        return model._default_manager.all()
    company_ids = user_company_ids(user)
    if model is Company:
        return Company.objects.filter(pk__in=company_ids)
    if model is get_user_model():
        return model._default_manager.filter(memberships__company__in=company_ids).distinct()
    if any(field.name == "company" for field in model._meta.fields):
        return model._default_manager.filter(company__in=company_ids)
    return model._default_manager.all()


def json_table(value):
    """A JSON value as people read it: objects as two-column tables, lists as bullet lists, nested as needed."""
    if isinstance(value, dict):
        if not value:
            return "—"
        rows = format_html_join("", "<tr><th>{}</th><td>{}</td></tr>",
                                ((str(k).replace("_", " "), json_table(v)) for k, v in value.items()))
        return format_html('<table class="json-table">{}</table>', rows)
    if isinstance(value, list):
        if not value:
            return "—"
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((json_table(v),) for v in value)))
    return "—" if value is None or value == "" else str(value)


def json_field_display(name: str, label: str):
    """A read-only admin field that shows the model's JSON field `name` as a table."""
    @admin.display(description=label)
    def show(self, obj):
        return json_table(getattr(obj, name))
    show.__name__ = f"{name}_table"
    return show


class ReadOnlyParentInline(TabularInline):
    """A read-only inline that whoever may view the parent sees (the company role is the permission, not
    Django's model permissions, which company members do not hold)."""

    extra = 0
    can_delete = False

    def has_view_permission(self, request, obj=None):
        return self.admin_site._registry[self.parent_model].has_view_permission(request, obj)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ScopedRelatedFieldListFilter(RelatedFieldListFilter):
    """A "By company" (or by user, order...) filter that names only what the person may see."""

    def field_choices(self, field, request, model_admin):
        queryset = scoped_choices_queryset(request.user, field.related_model)
        ordering = self.field_admin_ordering(field, request, model_admin)
        if ordering:
            queryset = queryset.order_by(*ordering)
        return [(obj.pk, str(obj)) for obj in queryset]


class CompanyScopedAdmin(ModelAdmin):
    """Admin base for company-owned models: non-superusers see and pick only their companies.

    For staff who are not superusers, the company role is the permission:
    every member may view, owners and operators may change.
    """

    company_field = "company"

    def _member_of(self, request, obj, roles=tuple(Role.values)) -> bool:
        if not request.user.is_active:
            return False  # the admin login page asks too, for anonymous visitors
        if request.user.is_superuser:
            return True
        company_ids = user_company_ids(request.user, roles)
        if obj is None:
            return bool(company_ids)
        company_id = obj.pk if isinstance(obj, Company) else getattr(obj, f"{self.company_field}_id", None)
        return company_id in company_ids

    def has_module_permission(self, request):
        return self._member_of(request, None)

    def has_view_permission(self, request, obj=None):
        return self._member_of(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._member_of(request, obj, (Role.OWNER, Role.OPERATOR))

    def has_add_permission(self, request):
        return self._member_of(request, None, (Role.OWNER, Role.OPERATOR))

    def has_delete_permission(self, request, obj=None):
        return self._member_of(request, obj, (Role.OWNER,))

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{f"{self.company_field}__in": user_company_ids(request.user)})

    def get_changeform_initial_data(self, request):
        """A person in one company does not have to pick it."""
        initial = super().get_changeform_initial_data(request)
        if self.company_field == "company" and "company" not in initial and not request.user.is_superuser:
            company_ids = user_company_ids(request.user, (Role.OWNER, Role.OPERATOR))
            if len(company_ids) == 1:
                initial["company"] = company_ids[0]
        return initial

    def get_list_filter(self, request):
        # Relation filters list only the person's companies and what belongs to them.
        return [(name, ScopedRelatedFieldListFilter) if isinstance(name, str) and self._is_relation(name) else name
                for name in super().get_list_filter(request)]

    def _is_relation(self, name: str) -> bool:
        try:
            field = self.model._meta.get_field(name)
        except Exception:  # noqa: BLE001 - a lookup path such as "order__status": left as declared
            return False
        return bool(field.is_relation and field.related_model and not field.auto_created)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if not request.user.is_superuser:
            # Another company (or its order, product, mission, member...): not offered, and refused if typed in.
            kwargs["queryset"] = scoped_choices_queryset(request.user, db_field.related_model)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if not request.user.is_superuser:
            kwargs["queryset"] = scoped_choices_queryset(request.user, db_field.related_model)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class ReadOnlyAdmin(CompanyScopedAdmin):
    """Records the platform writes itself (evidence, measurements, logs): nobody adds, edits or deletes them
    in the admin, so a number or a decision record can never be quietly rewritten."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MembershipInline(TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Company)
class CompanyAdmin(CompanyScopedAdmin):
    list_display = ["name", "slug", "is_active", "autopilot", "execution_halted", "currency", "created_at"]
    list_filter = ["is_active", "autopilot", "execution_halted"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    # Autopilot and the kill switch change through their switches (owner, reason, change log), not a checkbox.
    readonly_fields = ["created_at", "autopilot", "execution_halted", "halted_reason", "halted_at"]
    inlines = [MembershipInline]
    company_field = "pk"

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return self._member_of(request, obj, (Role.OWNER,))


@admin.register(Membership)
class MembershipAdmin(CompanyScopedAdmin):
    list_display = ["user", "company", "role", "created_at"]
    list_filter = ["role", "company"]
    search_fields = ["user__username", "user__email", "company__name"]
    autocomplete_fields = ["user"]

    # Roles are the permissions: only owners grant or change them (an operator could make itself owner).
    def has_add_permission(self, request):
        return self._member_of(request, None, (Role.OWNER,))

    def has_change_permission(self, request, obj=None):
        return self._member_of(request, obj, (Role.OWNER,))


@admin.register(APIToken)
class APITokenAdmin(CompanyScopedAdmin):
    list_display = ["prefix", "name", "user", "company", "created_at", "revoked_at"]
    list_filter = ["company"]
    search_fields = ["prefix", "name", "user__username"]
    readonly_fields = ["prefix", "created_at"]
    fields = ["user", "company", "name", "prefix", "created_at", "revoked_at"]

    def has_add_permission(self, request):
        return False  # keys are shown once: create them with `manage.py create_api_token`

    def get_readonly_fields(self, request, obj=None):
        # A token's holder is fixed: moving it to another user would hand the key holder that user's role.
        return [*self.readonly_fields, "user", "company"]


@admin.register(ConfigChange)
class ConfigChangeAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "company", "object_type", "object_id", "actor", "actor_label", "reason"]
    list_filter = ["object_type", "company"]
    search_fields = ["object_type", "object_id", "reason", "expected_effect"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in ConfigChange._meta.fields]


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["occurred_at", "company", "name", "correlation_id"]
    list_filter = ["name", "company"]
    search_fields = ["correlation_id"]
    date_hierarchy = "occurred_at"
    readonly_fields = [f.name for f in Event._meta.fields]


# Users and groups in the same admin theme as everything else.
admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class UserAdmin(BaseUserAdmin, ModelAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm


@admin.register(Group)
class GroupAdmin(BaseGroupAdmin, ModelAdmin):
    pass

from django.contrib import admin

from autonomax.admin import CompanyScopedAdmin

from .models import Lead


@admin.register(Lead)
class LeadAdmin(CompanyScopedAdmin):
    list_display = ["email", "name", "source", "score", "status", "consent", "company", "created_at"]
    list_filter = ["status", "source", "consent", "company"]
    search_fields = ["email", "name", "utm_campaign"]
    date_hierarchy = "created_at"

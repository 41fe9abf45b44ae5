from django.contrib import admin

from autonomax.admin import CompanyScopedAdmin

from .models import EvidenceRecord, Job, Mission, Play


@admin.register(Play)
class PlayAdmin(CompanyScopedAdmin):
    list_display = ["key", "label", "owner", "level", "autonomy", "status", "version", "company"]
    list_filter = ["status", "level", "autonomy", "owner", "company"]
    search_fields = ["key", "label"]
    readonly_fields = ["version", "updated_at"]


class JobInline(admin.TabularInline):
    model = Job
    extra = 0
    fields = ["order", "type", "bot", "status", "attempts", "started_at", "finished_at", "error"]
    readonly_fields = fields
    can_delete = False


@admin.register(Mission)
class MissionAdmin(CompanyScopedAdmin):
    list_display = ["id", "play", "status", "score", "company", "created_at", "decided_by"]
    list_filter = ["status", "company"]
    search_fields = ["explanation", "correlation_id"]
    date_hierarchy = "created_at"
    list_select_related = ["play", "company", "decided_by"]
    readonly_fields = ["correlation_id", "play_version", "play_snapshot", "score", "score_factors", "explanation",
                       "trigger_values", "decided_by", "decided_at", "created_at", "updated_at"]
    inlines = [JobInline]


@admin.register(Job)
class JobAdmin(CompanyScopedAdmin):
    list_display = ["id", "mission", "type", "bot", "status", "attempts", "started_at", "finished_at"]
    list_filter = ["status", "bot", "type", "company"]
    search_fields = ["idempotency_key", "error"]
    readonly_fields = ["idempotency_key", "attempts", "started_at", "finished_at", "result", "error", "log"]


@admin.register(EvidenceRecord)
class EvidenceRecordAdmin(CompanyScopedAdmin):
    list_display = ["mission", "play", "success", "recorded_at", "company"]
    list_filter = ["success", "company"]
    search_fields = ["correlation_id", "notes"]
    date_hierarchy = "recorded_at"
    readonly_fields = [f.name for f in EvidenceRecord._meta.fields]

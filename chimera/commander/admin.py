from django import forms
from django.contrib import admin, messages

from autonomax.admin import CompanyScopedAdmin, ReadOnlyAdmin, ReadOnlyParentInline, json_field_display
from autonomax.errors import AppError

from .models import Agent, EvidenceRecord, HoldoutAssignment, Job, Mission, Play
from .services.jobs import mission_undo_by_person
from .services.missions import mission_approve, mission_cancel, mission_reject, mission_retry
from .services.playbook import PLAY_FIELDS, play_review_clear, play_update


class PlayForm(forms.ModelForm):
    change_reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), help_text="Why this change?")
    expected_effect = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}),
                                      help_text="What should it do to the KPIs?")

    class Meta:
        model = Play
        fields = ["company", "key", *PLAY_FIELDS]


@admin.register(Play)
class PlayAdmin(CompanyScopedAdmin):
    form = PlayForm
    list_display = ["key", "label", "owner", "level", "autonomy", "status", "version", "company"]
    list_filter = ["status", "level", "autonomy", "owner", "company"]
    search_fields = ["key", "label"]
    readonly_fields = ["version", "updated_at", "trigger_table", "job_plan_table"]
    actions = ["clear_review"]
    # The editable JSON above, read as tables.
    trigger_table = json_field_display("trigger", "trigger (as read)")
    job_plan_table = json_field_display("job_plan", "job plan (as read)")

    def save_model(self, request, obj, form, change):
        if not change:
            return super().save_model(request, obj, form, change)
        # Edits go through the service: version bump + change log with who, why and the expected effect.
        fields = {name: form.cleaned_data[name] for name in PLAY_FIELDS if name in form.changed_data}
        play = play_update(play=obj, actor=request.user, reason=form.cleaned_data["change_reason"],
                           expected_effect=form.cleaned_data["expected_effect"], **fields)
        obj.pk, obj.version = play.pk, play.version

    @admin.action(description="Clear review: let the selected plays trigger again")
    def clear_review(self, request, queryset):
        for play in queryset:
            play_review_clear(play=play, actor=request.user, reason="cleared in the admin")
        self.message_user(request, f"{queryset.count()} play(s) active again.")


@admin.register(Agent)
class AgentAdmin(CompanyScopedAdmin):
    list_display = ["key", "kind", "label", "queue", "timeout_minutes", "company"]
    list_filter = ["kind", "company"]


class JobInline(ReadOnlyParentInline):
    model = Job
    fields = ["order", "type", "bot", "status", "attempts", "started_at", "finished_at", "error"]
    readonly_fields = fields


class EvidenceInline(ReadOnlyParentInline):
    model = EvidenceRecord
    fields = ["verdict", "method", "kpi", "effect_rel", "ci_low", "ci_high", "prob_improvement", "treated_n",
              "control_n", "recorded_at", "notes"]
    readonly_fields = fields


@admin.register(Mission)
class MissionAdmin(CompanyScopedAdmin):
    list_display = ["id", "play", "status", "score", "company", "created_at", "decided_by"]
    list_filter = ["status", "company"]
    search_fields = ["explanation", "correlation_id"]
    date_hierarchy = "created_at"
    list_select_related = ["play", "company", "decided_by"]
    # Every field is the workflow's record: statuses move only through the actions below (the services and
    # their transition table), never by editing a field.
    # JSON fields (score, trigger, measurement plan, the play then) are shown as tables.
    fields = ["company", "play", "status", "playbook_version", "play_version", "score", "score_factors_table",
              "explanation", "trigger_values_table", "anomaly_table", "measure_plan_table", "correlation_id",
              "decided_by", "decided_at", "decision_reason", "outcome", "created_at", "updated_at",
              "measure_due_at", "completed_at", "play_snapshot_table"]
    readonly_fields = fields
    inlines = [JobInline, EvidenceInline]
    score_factors_table = json_field_display("score_factors", "score factors")
    trigger_values_table = json_field_display("trigger_values", "KPIs that triggered it")
    anomaly_table = json_field_display("anomaly", "the anomaly that raised it")
    measure_plan_table = json_field_display("measure_plan", "measurement plan")
    play_snapshot_table = json_field_display("play_snapshot", "the play when suggested")
    actions = ["approve", "reject", "retry", "cancel", "undo"]

    def has_add_permission(self, request):
        return False  # missions come from the cycle's suggestions

    def has_delete_permission(self, request, obj=None):
        return False  # a mission's record (and a person's "no") is never deleted

    def _decide(self, request, queryset, service, verb):
        done = 0
        for mission in queryset:
            try:
                service(mission=mission, actor=request.user, reason=f"{verb} in the admin")
                done += 1
            except AppError as exc:
                self.message_user(request, f"Mission {mission.pk}: {exc.message}", level=messages.ERROR)
        if done:
            self.message_user(request, f"{done} mission(s) {verb}.")

    @admin.action(description="Approve selected proposed missions")
    def approve(self, request, queryset):
        self._decide(request, queryset, mission_approve, "approved")

    @admin.action(description="Reject selected proposed missions")
    def reject(self, request, queryset):
        self._decide(request, queryset, mission_reject, "rejected")

    @admin.action(description="Retry selected escalated missions (failed/stuck jobs run again)")
    def retry(self, request, queryset):
        self._decide(request, queryset, mission_retry, "retried")

    @admin.action(description="Cancel selected missions (jobs not yet run are cancelled)")
    def cancel(self, request, queryset):
        self._decide(request, queryset, mission_cancel, "cancelled")

    @admin.action(description="Take back what selected missions changed in the store (price, bundle)")
    def undo(self, request, queryset):
        self._decide(request, queryset, mission_undo_by_person, "taken back")


@admin.register(Job)
class JobAdmin(CompanyScopedAdmin):
    list_display = ["id", "mission", "type", "bot", "status", "attempts", "started_at", "finished_at"]
    list_filter = ["status", "bot", "type", "company"]
    search_fields = ["idempotency_key", "error"]
    # Read-only: a job's status moves with its mission (retry, cancel) through the services.
    fields = ["company", "mission", "order", "type", "bot", "params_table", "status", "attempts", "queue",
              "timeout_minutes", "idempotency_key", "started_at", "finished_at", "result_table", "error", "log"]
    readonly_fields = fields
    params_table = json_field_display("params", "params")
    result_table = json_field_display("result", "result")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(EvidenceRecord)
class EvidenceRecordAdmin(ReadOnlyAdmin):
    list_display = ["mission", "play", "method", "verdict", "effect_rel", "ci_low", "ci_high", "prob_improvement",
                    "recorded_at", "company"]
    list_filter = ["verdict", "method", "company"]
    search_fields = ["correlation_id", "notes"]
    date_hierarchy = "recorded_at"
    # JSON (KPI before and after, the change, the chart's points) shown as tables.
    readonly_fields = [f"{f.name}_table" if f.get_internal_type() == "JSONField" else f.name
                       for f in EvidenceRecord._meta.fields]


for _field in EvidenceRecord._meta.fields:
    if _field.get_internal_type() == "JSONField":
        setattr(EvidenceRecordAdmin, f"{_field.name}_table",
                json_field_display(_field.name, _field.verbose_name))


@admin.register(HoldoutAssignment)
class HoldoutAssignmentAdmin(ReadOnlyAdmin):
    list_display = ["mission", "subject", "group", "bucket", "assigned_at", "company"]
    list_filter = ["group", "company"]
    search_fields = ["subject"]
    readonly_fields = [f.name for f in HoldoutAssignment._meta.fields]

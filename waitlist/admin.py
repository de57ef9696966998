from django import forms
from django.contrib import admin
from django.db import models
from simple_history.admin import SimpleHistoryAdmin

from waitlist.models import WaitlistEntry
from waitlist.ranking import score_breakdown, with_score


@admin.register(WaitlistEntry)
class WaitlistEntryAdmin(SimpleHistoryAdmin):
    list_display = ["patient", "status", "score", "appointment_type", "any_provider", "urgent",
                    "boost", "earliest_date", "latest_date", "added_at", "source"]
    list_filter = ["status", "urgent", "source", "appointment_type", "any_provider", "providers"]
    search_fields = ["patient__first_name", "patient__last_name", "patient__phone",
                     "ehr_identifier_value"]
    date_hierarchy = "added_at"
    autocomplete_fields = ["patient"]
    # Checkboxes, not filter_horizontal: a clinic has few providers, and Django's
    # two-box widget puts aria-label on bare spans (axe: serious).
    formfield_overrides = {models.ManyToManyField: {"widget": forms.CheckboxSelectMultiple}}
    list_select_related = ["patient", "appointment_type"]
    # A patient's place in line (urgent, boost) and leaving the list change only in the
    # portal, where a reason is required and kept, and where removing an entry also ends
    # its live offer so the slot moves on. The admin is for audit review.
    readonly_fields = ["status", "urgent", "boost", "updated_at", "score_explained"]

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        # The score is computed by the database at query time, as the engine ranks.
        return with_score(super().get_queryset(request))

    @admin.display(description="score", ordering="score")
    def score(self, entry):
        return entry.score

    @admin.display(description="score, explained")
    def score_explained(self, entry):
        return score_breakdown(entry)

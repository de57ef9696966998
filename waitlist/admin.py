from functools import partial

from django import forms
from django.contrib import admin
from django.db import models, transaction
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from simple_history.admin import SimpleHistoryAdmin

from clinic.lib.admin import ReadOnlyAdminMixin
from waitlist import signals
from waitlist.checkins import entries_lapsed
from waitlist.models import CheckIn, WaitlistEntry
from waitlist.ranking import score_breakdown, score_components, with_score
from waitlist.selectors import entry_same_visit
from waitlist.services import DuplicateEntry


class EntryAdminForm(forms.ModelForm):
    """Follows the rule every path follows: a patient's second active entry must be
    another visit (waitlist.services.entry_add)."""

    class Meta:
        model = WaitlistEntry
        # The admin narrows these further (its read-only fields are shown, not posted).
        fields = ["patient", "for_name", "any_provider", "providers", "location",
                  "appointment_type", "earliest_date", "latest_date", "current_appointment_at",
                  "comment", "source", "ehr_identifier_system", "ehr_identifier_value",
                  "added_at", "added_by"]

    def clean(self):
        data = super().clean()
        patient = data.get("patient") or getattr(self.instance, "patient", None)
        status = self.instance.status if self.instance.pk else WaitlistEntry.Status.ACTIVE
        if patient is None or status != WaitlistEntry.Status.ACTIVE or self.errors:
            return data
        existing = entry_same_visit(
            patient=patient, appointment_type=data.get("appointment_type"),
            any_provider=data.get("any_provider", False),
            providers=list(data.get("providers") or []),
            for_name=" ".join((data.get("for_name") or "").split()),
            exclude_pk=self.instance.pk)
        if existing is not None:
            raise forms.ValidationError(DuplicateEntry(existing).messages)
        return data


class CheckInFilter(admin.SimpleListFilter):
    """Waitlist hygiene (waitlist/checkins.py): who was asked, and who lapsed."""

    title = "check-in"
    parameter_name = "check_in"

    def lookups(self, request, model_admin):
        return [("asked", "Asked, no answer yet"),
                ("lapsed", "Lapsed: no answer, taken off")]

    def queryset(self, request, queryset):
        if self.value() == "asked":
            return queryset.filter(check_ins__status=CheckIn.Status.ASKED).distinct()
        if self.value() == "lapsed":
            return queryset.filter(pk__in=entries_lapsed().values("pk"))
        return queryset


@admin.register(CheckIn)
class CheckInAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: check-ins are asked and settled by beat and the patients' replies."""

    list_display = ["entry", "status", "asked_at", "answer_by", "answered_at"]
    list_filter = ["status"]
    search_fields = ["patient__first_name", "patient__last_name", "patient__phone"]
    date_hierarchy = "asked_at"
    list_select_related = ["entry__patient"]


@admin.register(WaitlistEntry)
class WaitlistEntryAdmin(SimpleHistoryAdmin):
    form = EntryAdminForm
    list_display = ["patient", "for_name", "status", "score", "score_explained",
                    "appointment_type",
                    "any_provider", "urgent", "boost", "earliest_date", "latest_date",
                    "added_at", "source"]
    list_filter = ["status", CheckInFilter, "urgent", "source", "appointment_type", "any_provider", "providers"]
    search_fields = ["patient__first_name", "patient__last_name", "patient__phone",
                     "for_name", "ehr_identifier_value"]
    date_hierarchy = "added_at"
    autocomplete_fields = ["patient"]
    # Checkboxes, not filter_horizontal: a clinic has few providers, and Django's
    # two-box widget puts aria-label on bare spans (axe: serious).
    formfield_overrides = {models.ManyToManyField: {"widget": forms.CheckboxSelectMultiple}}
    list_select_related = ["patient", "appointment_type"]
    # A patient's place in line (urgent, boost) and leaving the list change only in the
    # portal, where a reason is required and kept, and where removing an entry also ends
    # its live offer so the slot moves on. The admin is for audit review.
    readonly_fields = ["status", "urgent", "boost", "updated_at", "score_explained",
                       "score_components"]

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.offers.exists():
            # Its offers went to this patient's phone (Offer.patient is a copy): moving
            # the entry to someone else would make them someone else's.
            fields.append("patient")
        return fields

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        # The score is computed by the database at query time, as the engine ranks.
        return with_score(super().get_queryset(request))

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        entry = form.instance
        if entry.status == WaitlistEntry.Status.ACTIVE:
            # As entry_add and entry_update do: the offer engine looks at the slots
            # this entry may now fit.
            transaction.on_commit(partial(signals.entry_waiting.send, sender=WaitlistEntry,
                                          entry=entry, created=not change), robust=True)

    @admin.display(description="score", ordering="score")
    def score(self, entry):
        return entry.score

    @admin.display(description="score, explained")
    def score_explained(self, entry):
        return score_breakdown(entry)

    @admin.display(description="every part of the score")
    def score_components(self, entry):
        # Each weight of settings.RANKING, zeros too, with what the history parts are for.
        return format_html_join(
            mark_safe("<br>"), "{} {}{}",
            ((label, points, f" \u00b7 {words}" if words else "")
             for label, points, words in score_components(entry)))

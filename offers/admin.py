"""Slots and offers in the Django admin: for audit (filters, search, history), not for
editing the engine's state by hand.

Offers are read-only: only the engine changes them, under its locks. A slot's state
(status, batches, who filled it) is the engine's too; admin staff change it through
actions that call the same services as the portal, so offers are superseded and
patients told exactly as they would be there. A slot added here is recorded with
`slot_open`, so offering starts at once.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils import timezone
from simple_history.admin import SimpleHistoryAdmin

from clinic.lib.admin import ReadOnlyAdminMixin
from offers import services
from offers.models import Offer, OfferRule, Slot


class OfferStatusMixin:
    """An offer's status in the portal's words (Offer.status_label: "Wrong number" too)."""

    @admin.display(description="status", ordering="status")
    def offer_status(self, offer: Offer) -> str:
        return offer.status_label


class OfferInline(OfferStatusMixin, admin.TabularInline):
    model = Offer
    extra = 0
    can_delete = False
    fields = ["patient", "batch", "score", "offer_status", "sent_at", "hold_until",
              "responded_at"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("patient")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def _error_text(exc: ValidationError) -> str:
    return " ".join(exc.messages)


class NewSlotForm(forms.ModelForm):
    """Refuses what slot_open would, as form errors rather than a crash."""

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and end <= start:
            self.add_error("end", "The slot must end after it starts.")
        elif end and end <= timezone.now():
            self.add_error("start", "That slot is already over.")
        return data


@admin.register(Slot)
class SlotAdmin(SimpleHistoryAdmin):
    list_display = ["__str__", "start", "end", "appointment_type", "status", "why",
                    "filled_via", "current_batch", "source", "created_at"]
    list_filter = ["status", "waiting_for", "unfilled_reason", "source", "filled_via",
                   "provider", "appointment_type", "location"]
    search_fields = ["provider__name", "ehr_identifier_value"]
    date_hierarchy = "start"
    list_select_related = ["provider", "appointment_type"]
    inlines = [OfferInline]
    actions = ["withdraw_slots", "offer_to_more_now"]
    # What staff give when recording a freed slot; everything else is the engine's.
    ADD_FIELDS = ["provider", "location", "appointment_type", "start", "end"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return self.ADD_FIELDS
        return [f.name for f in Slot._meta.fields if f.name != "id"]

    @admin.display(description="why")
    def why(self, slot: Slot) -> str:
        """Why an offering slot has no offer out, or why an unfilled one closed: the
        model's words, which Today's card uses too (one vocabulary)."""
        if slot.waiting_for:
            return slot.get_waiting_for_display()
        if slot.unfilled_reason:
            return slot.get_unfilled_reason_display()
        return ""

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        # Patients were offered this provider at this time: changing the slot under its
        # offers would make them untrue. Withdraw it and record a new one instead.
        return [f.name for f in Slot._meta.fields if f.name != "id"]

    def has_delete_permission(self, request, obj=None):
        # Slots and their offers are the audit trail; withdraw instead.
        return False

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = NewSlotForm
        return super().get_form(request, obj, change=change, **kwargs)

    def save_model(self, request, obj, form, change):
        if change:
            return  # every field is read-only; nothing of the engine's is saved by hand
        slot = services.slot_open(
            provider=obj.provider, start=obj.start, end=obj.end,
            appointment_type=obj.appointment_type,
            location=obj.location or obj.provider.location,
            source=Slot.Source.ADMIN, recorded_by=request.user,
        )
        # The admin goes on to log and link the object it was given: make it the slot
        # slot_open recorded.
        obj.pk = slot.pk
        obj.location = slot.location
        obj._state.adding = False

    @admin.action(description="Withdraw the selected slots (live offers end, patients told)",
                  permissions=["change"])
    def withdraw_slots(self, request, queryset):
        self._each(request, queryset, "withdrawn", lambda slot: services.slot_withdraw(
            slot=slot, by=request.user, reason="Withdrawn in the admin"))

    @admin.action(description="Offer the selected slots to more patients now",
                  permissions=["change"])
    def offer_to_more_now(self, request, queryset):
        self._each(request, queryset, "offered to more patients",
                   lambda slot: services.slot_offer_more(slot=slot, by=request.user))

    def _each(self, request, queryset, done: str, action) -> None:
        for slot in queryset.select_related("provider"):
            try:
                action(slot)
            except ValidationError as exc:
                self.message_user(request, f"{slot}: {_error_text(exc)}", messages.ERROR)
            else:
                self.message_user(request, f"{slot}: {done}.", messages.SUCCESS)


@admin.register(Offer)
class OfferAdmin(OfferStatusMixin, ReadOnlyAdminMixin, SimpleHistoryAdmin):
    """Read-only: offers change only through the engine (replies, expiry, staff actions
    on their slot), under the slot's lock."""

    list_display = ["slot", "patient", "batch", "score", "offer_status", "sent_at",
                    "hold_until", "responded_at"]
    list_filter = ["status", "batch"]
    search_fields = ["patient__first_name", "patient__last_name", "patient__phone"]
    date_hierarchy = "created_at"
    list_select_related = ["slot__provider", "patient"]

    def get_readonly_fields(self, request, obj=None):
        # Every field, with the status in the portal's words in its place.
        return ["offer_status" if name == "status" else name
                for name in super().get_readonly_fields(request, obj)]

    def get_fields(self, request, obj=None):
        return self.get_readonly_fields(request, obj)



@admin.register(OfferRule)
class OfferRuleAdmin(ReadOnlyAdminMixin, SimpleHistoryAdmin):
    """Read-only here, with its history: managers edit rules on the portal's Rules page,
    whose form validates them (docs/rules.md)."""

    list_display = ("__str__", "offer_by_text", "booking_mode", "min_lead_minutes",
                    "max_lead_hours", "batch_size", "hold_minutes")
    list_filter = ("booking_mode", "offer_by_text")

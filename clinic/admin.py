from functools import partial

from django import forms
from django.contrib import admin
from django.db import transaction
from simple_history.admin import SimpleHistoryAdmin

from clinic import signals
from clinic.lib.phones import InvalidPhoneNumber, phone_to_e164
from clinic.models import AppointmentType, Location, Patient, Provider

admin.site.site_header = "Waitlist filler — audit and administration"
admin.site.site_title = "Waitlist filler admin"


@admin.register(Location)
class LocationAdmin(admin.ModelAdmin):
    list_display = ["name", "address"]
    search_fields = ["name", "address"]


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    list_display = ["name", "identifier_system", "identifier_value", "location", "active"]
    list_filter = ["active", "location"]
    search_fields = ["name", "identifier_value"]


@admin.register(AppointmentType)
class AppointmentTypeAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "duration_minutes"]
    search_fields = ["name", "code"]


class PatientAdminForm(forms.ModelForm):
    """Stores the phone as typed ("+1 312 555 0142", "(312) 555-0142") in E.164, the one
    form inbound SMS is matched by, so a spaced number never becomes a second patient."""

    class Meta:
        model = Patient
        # sms_opted_out_at is not here: a texter's STOP is theirs alone, cleared only by
        # their START/UNSTOP (read-only below).
        fields = ["first_name", "last_name", "phone", "preferred_language", "phone_invalid_at",
                  "phone_wrong_at"]

    def clean_phone(self) -> str:
        try:
            return phone_to_e164(self.cleaned_data["phone"])
        except InvalidPhoneNumber as exc:
            raise forms.ValidationError(str(exc)) from exc

    def clean(self):
        cleaned = super().clean()
        # A corrected phone is a new number: what was reported about the old one (wrong
        # person, invalid) no longer holds, unless staff set it again in this same form.
        if self.instance.pk and "phone" in self.changed_data:
            for flag in ("phone_wrong_at", "phone_invalid_at"):
                if flag not in self.changed_data:
                    cleaned[flag] = None
        return cleaned


@admin.register(Patient)
class PatientAdmin(SimpleHistoryAdmin):
    form = PatientAdminForm
    list_display = ["full_name", "phone_masked", "preferred_language", "sms_opted_out_at",
                    "phone_invalid_at", "phone_wrong_at", "created_at"]
    list_filter = ["preferred_language", ("sms_opted_out_at", admin.EmptyFieldListFilter),
                   ("phone_invalid_at", admin.EmptyFieldListFilter),
                   ("phone_wrong_at", admin.EmptyFieldListFilter)]
    search_fields = ["first_name", "last_name", "phone"]
    date_hierarchy = "created_at"
    readonly_fields = ["sms_opted_out_at", "created_at", "updated_at"]

    def save_model(self, request, obj, form, change):
        could_text = change and Patient.objects.get(pk=obj.pk).can_receive_sms
        super().save_model(request, obj, form, change)
        if change and obj.can_receive_sms and not could_text:
            # A corrected phone: slots that closed for want of a patient who can be
            # texted may now have one.
            transaction.on_commit(partial(signals.patient_textable_again.send,
                                          sender=Patient, patient=obj), robust=True)

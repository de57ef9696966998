import datetime as dt

from django import forms
from django.conf import settings
from django.contrib.auth.forms import UserCreationForm
from django.utils import timezone

from clinic import roles
from clinic.models import AppointmentType, Location, Patient, Provider
from offers.models import OfferRule, Slot
from offers.rules import QUIET_HOURS_END, QUIET_HOURS_START
from offers.services import too_late_to_offer
from portal.services import PORTAL_ROLES

ROLE_CHOICES = [(role, role) for role in PORTAL_ROLES]


class SlotForm(forms.Form):
    """A freed slot, as the front desk reads it off the schedule."""

    provider = forms.ModelChoiceField(queryset=Provider.objects.filter(active=True),
                                      empty_label="Choose a provider")
    date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    time = forms.TimeField(widget=forms.TimeInput(attrs={"type": "time", "step": 300}))
    duration = forms.IntegerField(
        label="Duration (minutes)", min_value=5, max_value=480, initial=20
    )
    appointment_type = forms.ModelChoiceField(
        queryset=AppointmentType.objects.all(), required=False, empty_label="Any type",
        label="Appointment type",
    )
    record_duplicate = forms.BooleanField(
        required=False, label="Record it anyway: it is a second, separate slot",
    )
    record_too_soon = forms.BooleanField(
        required=False, label="Record it anyway: I will call patients (no texts go out)",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.duplicate: Slot | None = None
        # Starts within OFFER_MIN_LEAD_MINUTES: nobody would be texted (said before
        # recording, not after, so staff call instead of waiting for offers).
        self.too_soon = False

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        tz = timezone.get_current_timezone()
        start = dt.datetime.combine(data["date"], data["time"]).replace(tzinfo=tz)
        end = start + dt.timedelta(minutes=data["duration"])
        if start <= timezone.now():
            raise forms.ValidationError("That time has already passed; a freed slot must be "
                                        "in the future.", code="past")
        if end <= start:
            raise forms.ValidationError("The slot must end after it starts.", code="order")
        data["start"], data["end"] = start, end
        self.duplicate = (
            Slot.objects.filter(provider=data["provider"], start__lt=end, end__gt=start)
            .exclude(status=Slot.Status.WITHDRAWN)
            .first()
        )
        self.too_soon = too_late_to_offer(start=start)
        # Both warnings at once, each with its own "Record it anyway" to tick.
        if self.duplicate and not data.get("record_duplicate"):
            local = timezone.localtime(self.duplicate.start)
            self.add_error(None, forms.ValidationError(
                f"{data['provider']} already has a freed slot at {local:%-I:%M %p} that "
                f"day ({self.duplicate.get_status_display().lower()}). If this is a second "
                "slot, tick \"Record it anyway\".",
                code="duplicate",
            ))
        if self.too_soon and not data.get("record_too_soon"):
            minutes = max(1, int((start - timezone.now()).total_seconds() // 60))
            lead = settings.OFFER_MIN_LEAD_MINUTES
            self.add_error(None, forms.ValidationError(
                f"This slot starts in {minutes} minutes: too soon to offer by text (nobody "
                f"is texted within {lead} minutes of a visit), so no offers would go out. "
                "Call patients from the waitlist instead, and tick \"Record it anyway: I "
                "will call patients\" to keep it on the board.", code="too_soon"))
        return data


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=200, required=False)


class OfferChannelForm(forms.Form):
    offer_channel = forms.ChoiceField(choices=Patient.OfferChannel.choices,
                                      label="Offer slots by")


class SimulatorForm(forms.Form):
    phone = forms.CharField(
        label="Patient's phone", max_length=40,
        help_text="Any patient's number, e.g. (312) 555-0150.",
    )
    body = forms.CharField(label="Message", max_length=320, required=False,
                           widget=forms.TextInput(attrs={"autocomplete": "off"}))
    # The quick-reply buttons (YES, NO, ...) submit their word here.
    quick = forms.CharField(max_length=20, required=False)

    def clean(self):
        data = super().clean()
        data["body"] = (data.get("quick") or data.get("body") or "").strip()
        if not data["body"]:
            self.add_error("body", "Type a message, or use a quick reply.")
        return data

    def clean_phone(self):
        from clinic.lib.phones import InvalidPhoneNumber, phone_to_e164

        try:
            number = phone_to_e164(self.cleaned_data["phone"])
        except InvalidPhoneNumber as exc:
            raise forms.ValidationError(str(exc)) from exc
        self.patient = Patient.objects.filter(phone=number).first()
        return number


class StaffCreateForm(UserCreationForm):
    """A new staff account. Django's own checks: a unique username, the two passwords
    equal and passing AUTH_PASSWORD_VALIDATORS (length, common, like the name)."""

    role = forms.ChoiceField(choices=ROLE_CHOICES, initial=roles.FRONT_DESK)

    class Meta(UserCreationForm.Meta):
        fields = ("username", "first_name", "last_name")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["username"].widget.attrs.pop("autofocus", None)
        self.fields["first_name"].required = True


class StaffRoleForm(forms.Form):
    role = forms.ChoiceField(choices=ROLE_CHOICES)


class StaffActiveForm(forms.Form):
    # The buttons send "true" (reactivate) or "false" (deactivate).
    active = forms.BooleanField(required=False)


# --- Clinic rules (managers) ---------------------------------------------------------
class OfferRuleForm(forms.ModelForm):
    """One clinic rule (offers/rules.py, docs/rules.md). Blank fields: the defaults."""

    class Meta:
        model = OfferRule
        fields = ["provider", "appointment_type", "location", "offer_by_text",
                  "booking_mode", "min_lead_minutes", "max_lead_hours", "batch_size",
                  "hold_minutes", "texting_from", "texting_until"]
        widgets = {"texting_from": forms.TimeInput(attrs={"type": "time"}),
                   "texting_until": forms.TimeInput(attrs={"type": "time"})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["provider"].empty_label = "All providers"
        self.fields["appointment_type"].empty_label = "All appointment types"
        self.fields["location"].empty_label = "All locations"
        self.fields["offer_by_text"].label = "Offer these slots by text"
        self.fields["texting_from"].label = "Texting from"
        self.fields["texting_until"].label = "Texting until"
        for name in ("batch_size", "hold_minutes"):
            self.fields[name].widget.attrs["placeholder"] = "policy chooses"

    def clean_batch_size(self):
        size = self.cleaned_data.get("batch_size")
        if size is not None and not 1 <= size <= settings.OFFER_MAX_BATCH_SIZE * 5:
            raise forms.ValidationError(
                f"Between 1 and {settings.OFFER_MAX_BATCH_SIZE * 5} patients per batch.")
        return size

    def clean_hold_minutes(self):
        hold = self.cleaned_data.get("hold_minutes")
        if hold is not None and not 1 <= hold <= 24 * 60:
            raise forms.ValidationError("A hold lasts between 1 minute and 24 hours.")
        return hold

    def clean(self):
        data = super().clean()
        start, end = data.get("texting_from"), data.get("texting_until")
        if (start is None) != (end is None):
            self.add_error("texting_until", "Give both ends of the texting hours, or neither.")
        elif start is not None:
            if end <= start:
                self.add_error("texting_until", "Texting hours must end after they start.")
            elif start < QUIET_HOURS_END or end > QUIET_HOURS_START:
                self.add_error("texting_from", "Texting hours must lie within 8:00 AM–9:00 PM "
                                               "(the patient's local time; TCPA quiet hours).")
        low, high = data.get("min_lead_minutes"), data.get("max_lead_hours")
        if low is not None and high is not None and high * 60 <= low:
            self.add_error("max_lead_hours", "The maximum lead time must be longer than the "
                                             "minimum.")
        same = OfferRule.objects.filter(provider=data.get("provider"),
                                        appointment_type=data.get("appointment_type"),
                                        location=data.get("location"))
        if self.instance.pk:
            same = same.exclude(pk=self.instance.pk)
        if not self.errors and same.exists():
            raise forms.ValidationError("A rule for this provider, appointment type and "
                                        "location already exists: change that one instead.")
        return data


class RulePreviewForm(forms.Form):
    """Which rule applies to a slot of this provider, type and location?"""

    provider = forms.ModelChoiceField(queryset=Provider.objects.filter(active=True),
                                      empty_label="Choose a provider")
    appointment_type = forms.ModelChoiceField(queryset=AppointmentType.objects.all(),
                                              required=False, empty_label="Any type",
                                              label="Appointment type")
    location = forms.ModelChoiceField(queryset=Location.objects.all(), required=False,
                                      empty_label="The provider's location")


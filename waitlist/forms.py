from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q

from clinic.lib.phones import InvalidPhoneNumber, phone_to_e164
from clinic.models import AppointmentType, Patient, Provider
from clinic.services import patient_find_or_create
from waitlist.models import WaitlistEntry
from waitlist.selectors import names_match


class WaitlistFilterForm(forms.Form):
    q = forms.CharField(label="Search name or phone", required=False, max_length=80)
    provider = forms.ModelChoiceField(queryset=Provider.objects.all(), required=False,
                                      empty_label="Any provider")
    appointment_type = forms.ModelChoiceField(
        queryset=AppointmentType.objects.all(), required=False, empty_label="Any type",
        label="Appointment type")
    urgent = forms.BooleanField(label="Urgent only", required=False)
    SHOW_CHOICES = [("", "Waiting"), ("check_in", "Check-in asked, no answer yet"),
                    ("lapsed", "Lapsed: no answer to a check-in")]
    show = forms.ChoiceField(label="Show", choices=SHOW_CHOICES, required=False)

    def shown(self) -> str:
        """Which list: the waiting ones (""), those asked a check-in, or who lapsed."""
        return self.cleaned_data.get("show", "") if self.is_valid() else ""

    def filter(self, entries):
        if not self.is_valid():
            return entries
        data = self.cleaned_data
        if data["provider"]:
            accepts = WaitlistEntry.providers.through.objects.filter(
                waitlistentry_id=OuterRef("pk"), provider_id=data["provider"].pk)
            entries = entries.filter(Q(any_provider=True) | Exists(accepts))
        if data["appointment_type"]:
            entries = entries.filter(appointment_type=data["appointment_type"])
        if data["urgent"]:
            entries = entries.filter(urgent=True)
        for word in data["q"].split():
            digits = "".join(ch for ch in word if ch.isdigit())
            if len(digits) >= 3 and len(digits) >= len(word) // 2:
                entries = entries.filter(patient__phone__contains=digits)
            else:
                entries = entries.filter(Q(patient__first_name__icontains=word)
                                         | Q(patient__last_name__icontains=word)
                                         | Q(for_name__icontains=word))
        return entries


class EntryForm(forms.Form):
    """A waitlist entry's wishes and priority. Urgent and boost are a manager's call."""

    any_provider = forms.BooleanField(label="Any provider", required=False)
    providers = forms.ModelMultipleChoiceField(
        queryset=Provider.objects.filter(active=True), required=False,
        widget=forms.CheckboxSelectMultiple, label="Providers")
    appointment_type = forms.ModelChoiceField(
        queryset=AppointmentType.objects.all(), required=False, empty_label="Any type",
        label="Appointment type")
    earliest_date = forms.DateField(required=False, label="Earliest date",
                                    widget=forms.DateInput(attrs={"type": "date"}))
    latest_date = forms.DateField(required=False, label="Latest date",
                                  widget=forms.DateInput(attrs={"type": "date"}))
    current_appointment_at = forms.DateTimeField(
        required=False, label="Current appointment",
        help_text="The appointment they hold now, if any: only earlier slots are offered.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"))
    comment = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    urgent = forms.BooleanField(required=False, label="Urgent")
    boost = forms.IntegerField(min_value=0, max_value=40, initial=0, label="Manual boost (0–40)")
    reason = forms.CharField(
        required=False, max_length=200, label="Reason for the change",
        help_text="Kept in the audit trail. Needed when urgent or boost change.")

    def __init__(self, *args, can_prioritize: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if not can_prioritize:
            # Disabled fields keep their initial value whatever is posted.
            self.fields["urgent"].disabled = True
            self.fields["boost"].disabled = True

    def clean(self):
        data = super().clean()
        if not data.get("any_provider") and not data.get("providers") \
                and "providers" not in self.errors:
            self.add_error("providers", "Choose at least one provider, or any provider.")
        earliest, latest = data.get("earliest_date"), data.get("latest_date")
        if earliest and latest and earliest > latest:
            self.add_error("latest_date", "The latest date must be on or after the earliest.")
        return data

    def entry_values(self) -> dict:
        data = self.cleaned_data
        return {name: data[name] for name in (
            "any_provider", "providers", "appointment_type", "earliest_date", "latest_date",
            "current_appointment_at", "comment", "urgent", "boost")}

    def add_service_error(self, exc: ValidationError) -> None:
        """Put a service's ValidationError on the fields it names (or the whole form)."""
        if hasattr(exc, "error_dict"):
            for field, errors in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, errors)
        else:
            self.add_error(None, exc.messages)


class NewEntryForm(EntryForm):
    """Adding: who the patient is, then what they wait for.

    A phone number is one patient record (inbound SMS finds the patient by it). When the
    typed number already belongs to someone with another name, staff say who this is:
    the same person (the entry goes on that record), or a family member sharing the
    phone (the entry goes on that record, for the typed name: WaitlistEntry.for_name).
    The typed name is never silently dropped."""

    SAME_PERSON = "same"
    FAMILY_MEMBER = "family"

    first_name = forms.CharField(max_length=80, label="First name")
    last_name = forms.CharField(max_length=80, required=False, label="Last name")
    phone = forms.CharField(max_length=40, label="Mobile phone",
                            help_text="If the number is already a patient's, you are asked "
                                      "whether this is them or a family member.")
    preferred_language = forms.ChoiceField(choices=Patient.Language.choices,
                                           label="Texts in")
    phone_owner = forms.ChoiceField(
        required=False, widget=forms.RadioSelect, label="Who is this visit for?",
        choices=[(SAME_PERSON, "The same person"),
                 (FAMILY_MEMBER, "A family member sharing this phone")])

    field_order = ["first_name", "last_name", "phone", "preferred_language"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The patient the typed number belongs to, when their name differs.
        self.phone_owner_patient: Patient | None = None

    def clean_phone(self):
        try:
            return phone_to_e164(self.cleaned_data["phone"])
        except InvalidPhoneNumber as exc:
            raise ValidationError(str(exc)) from exc

    def clean(self):
        data = super().clean()
        owner = Patient.objects.filter(phone=data.get("phone") or "").first()
        typed_first, typed_last = data.get("first_name", ""), data.get("last_name", "")
        if owner is None or names_match(typed_first, typed_last, owner.first_name,
                                        owner.last_name):
            return data
        self.phone_owner_patient = owner
        typed = self.typed_name()
        self.fields["phone_owner"].choices = [
            (self.SAME_PERSON, f"Same person: add to {owner.full_name}'s record "
                               f"(it keeps the name {owner.full_name})"),
            (self.FAMILY_MEMBER, f"A family member sharing this phone: add the entry under "
                                 f"{owner.full_name}'s record, for {typed}"),
        ]
        if data.get("phone_owner") not in (self.SAME_PERSON, self.FAMILY_MEMBER):
            self.add_error("phone_owner", f"{owner.phone_display} belongs to "
                                          f"{owner.full_name}. Say who this visit is for, "
                                          "or cancel.")
        return data

    def typed_name(self) -> str:
        data = self.cleaned_data
        return " ".join(f"{data.get('first_name', '')} {data.get('last_name', '')}".split())

    def for_name(self) -> str:
        """Who the visit is for, when not the phone's owner (a family member)."""
        if self.phone_owner_patient and self.cleaned_data.get("phone_owner") == \
                self.FAMILY_MEMBER:
            return self.typed_name()
        return ""

    def entry_reason(self, reason: str) -> str:
        """The audit reason, saying what was typed when it went on another's record."""
        if self.phone_owner_patient is None:
            return reason
        owner = self.phone_owner_patient.full_name
        how = ("a family member sharing the phone" if self.for_name()
               else "the same person as the record")
        said = f"Typed as {self.typed_name()!r} for {owner}'s phone: {how}"
        return f"{reason.strip()} ({said})" if reason.strip() else said

    def patient(self) -> Patient:
        data = self.cleaned_data
        return patient_find_or_create(
            phone=data["phone"], first_name=data["first_name"], last_name=data["last_name"],
            preferred_language=data["preferred_language"], reason="Added from the staff portal")


class RemoveForm(forms.Form):
    reason = forms.CharField(max_length=200, label="Why is the patient taken off?",
                             help_text="Kept in the audit trail.")

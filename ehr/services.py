"""Storing what the EHR sent: mapping only. Waitlist writes go through waitlist.services and
slots through offers.services, so the API follows exactly the rules the portal follows.
The FHIR API and the HL7 feed (ehr/hl7v2/services.py) both come through here.
"""

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from simple_history.utils import update_change_reason

from clinic.audit import acting_as
from clinic.models import AppointmentType, Location, Patient, Provider
from clinic.services import patient_find_or_create
from ehr.fhir import (
    MAX_DAYS_AHEAD,
    MAX_SLOT_HOURS,
    CancelledAppointment,
    FhirError,
    ProviderRef,
    WaitlistRequest,
    invalid,
)
from offers.models import Slot
from offers.services import slot_open
from waitlist.models import WaitlistEntry
from waitlist.selectors import entry_same_visit, names_match
from waitlist.services import DuplicateEntry, entry_add, entry_update

# Model fields as the EHR knows them, for error messages.
FHIR_PATHS = {
    "earliest_date": "Appointment.requestedPeriod.start",
    "latest_date": "Appointment.requestedPeriod.end",
    "providers": "Appointment.participant",
    "comment": "Appointment.comment",
    "urgent": "Appointment.priority",
    "start": "Appointment.start",
    "end": "Appointment.end",
}


def audit_reason(what: str, via: str = "FHIR API") -> str:
    return f"{what} from the EHR ({via})"


def appointment_waitlist_save(*, request: WaitlistRequest,
                              actor: str) -> tuple[WaitlistEntry, bool]:
    """Create or update (by the EHR's identifier) a waitlist entry; True when created.
    `actor` is who the audit trail names (clinic.audit: the API key, the SMART client)."""
    return _retrying_once(_waitlist_save, request=request, actor=actor)


def appointment_cancelled_save(*, request: CancelledAppointment, actor: str,
                               via: str = "FHIR API") -> tuple[Slot, bool]:
    """Open a slot for a cancelled appointment; a repeated post changes nothing."""
    return _retrying_once(_cancelled_save, request=request, via=via, actor=actor)


def _retrying_once(save, *, actor: str, **kwargs):
    # The audit trail records the caller as the actor of every change ("[API key: Epic] ...").
    with acting_as(actor):
        # Two posts of one new identifier at once: the loser hits the unique constraint
        # and, on its second try, finds the winner's row and answers as for a repeat.
        try:
            return save(**kwargs)
        except IntegrityError:
            return save(**kwargs)


@transaction.atomic
def _waitlist_save(*, request: WaitlistRequest) -> tuple[WaitlistEntry, bool]:
    patient = _patient_match_or_create(
        request=request, reason=audit_reason("Patient created"))
    # A known phone with another name: a family member sharing that phone. The entry
    # keeps the posted name (the phone's record keeps its own), as the portal does.
    for_name = "" if names_match(request.first_name, request.last_name, patient.first_name,
                                 patient.last_name) else (
        f"{request.first_name} {request.last_name}".strip())
    providers = [_provider_match_or_create(ref) for ref in request.providers]
    wishes = {
        "any_provider": not providers,
        "providers": providers,
        "appointment_type": _appointment_type(request.appointment_type_codes),
        "earliest_date": request.earliest_date,
        "latest_date": request.latest_date,
        "urgent": request.urgent,
        "comment": request.comment,
    }
    existing = None
    if request.identifier_value:
        existing = WaitlistEntry.objects.filter(
            ehr_identifier_system=request.identifier_system,
            ehr_identifier_value=request.identifier_value,
        ).first()
    try:
        if existing is None:
            same_visit = entry_same_visit(
                patient=patient, appointment_type=wishes["appointment_type"],
                any_provider=wishes["any_provider"], providers=providers, for_name=for_name)
            if same_visit is not None and not request.identifier_value \
                    and _same_wishes(same_visit, wishes):
                # The same request again (a retry without an identifier): answered with
                # the entry it made, as a repeated identifier is.
                return same_visit, False
            entry = entry_add(
                patient=patient, source=WaitlistEntry.Source.EHR,
                reason=audit_reason("Added to the waitlist"),
                ehr_identifier_system=request.identifier_system,
                ehr_identifier_value=request.identifier_value, for_name=for_name, **wishes,
            )
            return entry, True
        if existing.patient_id != patient.pk:
            raise FhirError(409, "Appointment.identifier: this identifier belongs to another "
                            "patient's waitlist request", code="conflict",
                            expression="Appointment.identifier")
        if existing.status != WaitlistEntry.Status.ACTIVE:
            raise FhirError(409, "Appointment.identifier: this waitlist request is "
                            f"{existing.get_status_display().lower()} and can no longer change",
                            code="conflict", expression="Appointment.identifier")
        reason = audit_reason("Waitlist request updated")
        return entry_update(entry=existing, reason=reason, **wishes), False
    except DuplicateEntry as exc:
        raise FhirError(
            409, f"Appointment: {exc.messages[0]} It is Appointment/waitlist-"
            f"{exc.existing.pk}; a patient's second entry must be another visit (another "
            "appointment type or provider).", code="duplicate",
            expression="Appointment") from None
    except ValidationError as exc:
        raise _from_validation_error(exc) from None


def _same_wishes(entry: WaitlistEntry, wishes: dict) -> bool:
    return (entry.any_provider == wishes["any_provider"]
            and {p.pk for p in entry.providers.all()} == {p.pk for p in wishes["providers"]}
            and entry.appointment_type == wishes["appointment_type"]
            and entry.earliest_date == wishes["earliest_date"]
            and entry.latest_date == wishes["latest_date"]
            and entry.urgent == wishes["urgent"] and entry.comment == wishes["comment"])


def cancelled_times_check(*, start: dt.datetime, end: dt.datetime) -> None:
    """The times a freed slot may have, whichever way the EHR sent it."""
    if end <= start:
        raise invalid("Appointment.end", "the end must be after the start")
    if end - start > dt.timedelta(hours=MAX_SLOT_HOURS):
        raise invalid("Appointment.end", f"an appointment longer than {MAX_SLOT_HOURS} hours")
    if start <= timezone.now():
        raise invalid("Appointment.start", "the slot is in the past")
    if start > timezone.now() + dt.timedelta(days=MAX_DAYS_AHEAD):
        raise invalid("Appointment.start", "the slot is more than two years ahead")


@transaction.atomic
def _cancelled_save(*, request: CancelledAppointment, via: str) -> tuple[Slot, bool]:
    cancelled_times_check(start=request.start, end=request.end)
    provider = _provider_match_or_create(request.provider)
    appointment_type = _appointment_type(request.appointment_type_codes)
    if request.identifier_value:
        existing = Slot.objects.filter(
            ehr_identifier_system=request.identifier_system,
            ehr_identifier_value=request.identifier_value,
        ).first()
        if existing is not None:
            same = (existing.provider_id, existing.start, existing.end,
                    existing.appointment_type_id) == (
                provider.pk, request.start, request.end,
                appointment_type.pk if appointment_type else None)
            if not same:
                # Patients may already hold offers for the time they were texted.
                raise FhirError(409, "Appointment.identifier: this cancelled appointment was "
                                "posted before with another time, provider or type; its slot "
                                "is already being offered and cannot change (staff can "
                                "withdraw it in the portal)", code="conflict",
                                expression="Appointment.identifier")
            return existing, False
    # The first location the EHR names that the clinic knows; else the provider's.
    location = next((found for name in request.location_names
                     if (found := Location.objects.filter(name__iexact=name).first())),
                    provider.location)
    try:
        slot = slot_open(
            provider=provider, start=request.start, end=request.end,
            appointment_type=appointment_type, location=location,
            source=Slot.Source.EHR,
            ehr_identifier_system=request.identifier_system,
            ehr_identifier_value=request.identifier_value,
        )
    except ValidationError as exc:
        raise _from_validation_error(exc) from None
    update_change_reason(slot, audit_reason("Cancellation recorded", via))
    return slot, True


def _patient_match_or_create(*, request: WaitlistRequest, reason: str) -> Patient:
    return patient_find_or_create(phone=request.phone, first_name=request.first_name,
                                  last_name=request.last_name,
                                  preferred_language=request.language, reason=reason,
                                  offer_channel=request.offer_channel)


def _provider_match_or_create(ref: ProviderRef) -> Provider:
    provider = Provider.objects.filter(
        identifier_system=ref.system, identifier_value=ref.value).first()
    if provider is not None:
        return provider
    if not ref.display:
        raise invalid(f"{ref.path}.display",
                      "an unknown provider needs a display name so it can be created")
    return Provider.objects.create(
        name=ref.display, identifier_system=ref.system, identifier_value=ref.value)


def _appointment_type(codes: list[str]) -> AppointmentType | None:
    if not codes:
        return None
    for code in codes:
        appointment_type = AppointmentType.objects.filter(code__iexact=code).first()
        if appointment_type is not None:
            return appointment_type
    known = ", ".join(AppointmentType.objects.values_list("code", flat=True)[:20])
    raise invalid("Appointment.appointmentType.coding.code",
                  f"unknown appointment type {codes[0][:60]!r} (known codes: {known})")


def _from_validation_error(exc: ValidationError) -> FhirError:
    if hasattr(exc, "error_dict"):
        field, errors = next(iter(exc.message_dict.items()))
        path = FHIR_PATHS.get(field, "Appointment")
        return invalid(path, " ".join(errors))
    return invalid("Appointment", " ".join(exc.messages))

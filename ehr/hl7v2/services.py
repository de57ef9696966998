"""Applying HL7 v2 messages: one call per message, which answers with the ACK to send.

The mapping goes through the services the FHIR API uses (ehr.services, waitlist.services,
offers.services), so both paths follow the same rules. A message is applied at most once
per sender and control id (MSH-10) and kept in Hl7Message with its outcome; a message
that cannot be read at all is answered AR and only logged (without its content).
"""

import logging
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from clinic.audit import acting_as, save_with_reason
from clinic.models import AppointmentType, Patient, Provider
from ehr import services as ehr_services
from ehr.fhir import CancelledAppointment, FhirError, ProviderRef
from ehr.hl7v2.messages import (
    DUPLICATE_KEY_IDENTIFIER,
    REQUIRED_FIELD_MISSING,
    UNKNOWN_KEY_IDENTIFIER,
    AppointmentInfo,
    Header,
    Hl7Error,
    PatientInfo,
    Unreadable,
    ack_build,
    ack_for_unreadable,
    appointment_read,
    frame_decode,
    header_check,
    header_read,
    message_parse,
    patient_read,
)
from ehr.models import HeldAppointment, Hl7Message, PatientIdentifier
from offers.models import Slot
from offers.services import slot_mark_filled_by_phone, slot_withdraw
from waitlist.models import WaitlistEntry
from waitlist.services import entry_update

logger = logging.getLogger(__name__)

# Where a FHIR path named by a shared service's error is in an HL7 message.
HL7_LOCATIONS = {
    "Appointment.start": "SCH^1^11^4",
    "Appointment.end": "SCH^1^11^5",
    "Appointment.identifier": "SCH^1^2",
    "Appointment.appointmentType.coding.code": "AIS^1^3",
    "Appointment.participant": "AIP^1^3",
}


def actor_hl7(header: Header) -> str:
    return f"HL7: {header.sender}"[:60]


def hl7_message_receive(*, raw: bytes, peer: str = "") -> str:
    """Read, apply (once), keep and answer one message; returns the ACK's text."""
    try:
        text = frame_decode(raw)
        message = message_parse(text)
    except Unreadable as exc:
        logger.warning("HL7 from %s: unreadable frame of %d bytes refused (AR): %s",
                       peer or "?", len(raw), exc)
        return ack_for_unreadable(raw, str(exc))
    header = header_read(message)
    kept = {"peer": peer[:100], "sending_application": header.sending_application,
            "sending_facility": header.sending_facility, "control_id": header.control_id,
            "message_type": header.message_type, "raw": text.replace("\r", "\n").strip()}
    try:
        header_check(header)
        applied = _applied_before(header)
        if applied is not None:
            return _answer_repeat(applied, header)
        try:
            with transaction.atomic():
                with acting_as(actor_hl7(header)):
                    handler = HANDLERS[header.message_code, header.trigger_event]
                    try:
                        outcome = handler(message, header)
                    except (FhirError, ValidationError) as exc:
                        raise _from_shared(exc) from None
                Hl7Message.objects.create(ack_code=Hl7Message.Ack.ACCEPTED, outcome=outcome,
                                          **kept)
        except IntegrityError:
            # The same control id came twice at once (two connections): the other copy
            # was applied and this one's changes rolled back with it.
            applied = _applied_before(header)
            if applied is None:
                raise
            return _answer_repeat(applied, header)
    except Hl7Error as error:
        Hl7Message.objects.create(ack_code=error.ack, outcome=error.text, **kept)
        _log(header, peer, error.ack, error.text)
        return ack_build(header=header, code=error.ack, text=error.text, error=error)
    _log(header, peer, "AA", outcome)
    return ack_build(header=header, code="AA", text=outcome)


def _applied_before(header: Header) -> Hl7Message | None:
    return Hl7Message.objects.filter(
        ack_code=Hl7Message.Ack.ACCEPTED, sending_application=header.sending_application,
        sending_facility=header.sending_facility, control_id=header.control_id).first()


def _answer_repeat(applied: Hl7Message, header: Header) -> str:
    Hl7Message.objects.filter(pk=applied.pk).update(repeats=F("repeats") + 1,
                                                    last_received_at=timezone.now())
    text = (f"already applied on {timezone.localtime(applied.received_at):%Y-%m-%d %H:%M}: "
            f"{applied.outcome}")
    _log(header, "", "AA", text)
    return ack_build(header=header, code="AA", text=text)


def _log(header: Header, peer: str, code: str, text: str) -> None:
    # No message content: the outcome texts name ids and times, never a patient (and the
    # logging filter masks phone numbers in any case).
    logger.info("HL7 %s %s from %s%s: %s %s", header.message_type, header.control_id,
                header.sender, f" ({peer})" if peer else "", code, text)


def _from_shared(exc: FhirError | ValidationError) -> Hl7Error:
    """A shared service's refusal, told with the HL7 field it came from."""
    if isinstance(exc, ValidationError):
        return Hl7Error(" ".join(exc.messages))
    location = HL7_LOCATIONS.get(exc.expression or "", "")
    text = exc.diagnostics
    if exc.expression and text.startswith(f"{exc.expression}: "):
        text = text[len(exc.expression) + 2:]
    code = DUPLICATE_KEY_IDENTIFIER if exc.status == 409 else "102"
    return Hl7Error(text.replace("Appointment.identifier", "the appointment id"),
                    code=code, location=location)


# --- SIU: scheduling ------------------------------------------------------------------

def _clinic_provider(appointment: AppointmentInfo) -> Provider:
    """The first AIP/AIG resource that is one of the clinic's providers (by identifier)."""
    if not appointment.providers:
        raise Hl7Error("the appointment names no provider: AIP-3 (or AIG-3) is missing",
                       code=REQUIRED_FIELD_MISSING, location="AIP^1^3")
    for candidate in appointment.providers:
        provider = Provider.objects.filter(identifier_system=settings.HL7_PROVIDER_ID_SYSTEM,
                                           identifier_value=candidate.value).first()
        if provider is not None:
            return provider
    first = appointment.providers[0]
    named = f" ({first.name})" if first.name else ""
    raise Hl7Error(f"unknown provider {first.value}{named}: no provider of the clinic has this "
                   f"identifier in {settings.HL7_PROVIDER_ID_SYSTEM} (add it to the provider "
                   "in the admin, or filter the feed to the clinic's providers)",
                   code=UNKNOWN_KEY_IDENTIFIER, location=first.location)


def _appointment_type(appointment: AppointmentInfo) -> AppointmentType | None:
    for code in appointment.service_codes:
        found = AppointmentType.objects.filter(code__iexact=code).first()
        if found is not None:
            return found
    return None


def _siu_cancelled(message, header: Header) -> str:
    """S15: the appointment was cancelled, so its time is free: open the slot, exactly as a
    FHIR `cancelled` Appointment does."""
    appointment = appointment_read(message, header)
    provider = _clinic_provider(appointment)
    notes = _current_appointments_refresh(_held_appointments_remove(appointment), header,
                                          reason="cancelled")
    if appointment.start <= timezone.now():
        # Not a mistake to resend: the clinic recorded a past cancellation. Nothing to fill.
        return "; ".join(["not offered: the appointment time has passed", *notes])
    request = CancelledAppointment(
        start=appointment.start, end=appointment.end,
        provider=ProviderRef(system=provider.identifier_system, value=provider.identifier_value,
                             display=provider.name, path="AIP"),
        appointment_type_codes=appointment.service_codes,
        identifier_system=appointment.identifier_system,
        identifier_value=appointment.identifier_value,
        location_names=appointment.location_names,
    )
    slot, created = ehr_services.appointment_cancelled_save(
        request=request, actor=actor_hl7(header), via=f"HL7 {header.message_type}")
    opened = f"slot {slot.pk} opened" if created else f"slot {slot.pk} was opened before"
    return "; ".join([opened, *notes])


def _siu_booked(message, header: Header) -> str:
    """S12 (booked), S13 (rescheduled), S14 (modified): the patient holds this appointment
    now. Into one of our open slots: that slot was taken in the EHR (a fill when the
    patient was waiting for it, else withdrawn). Otherwise, for a waitlisted patient it is
    their current appointment, which offers must beat."""
    appointment = appointment_read(message, header)
    provider = _clinic_provider(appointment)
    patient = _patient_find(patient_read(message, required=True))
    # A moved or changed appointment may no longer fit the entries it was recorded for.
    moved = _held_appointments_remove(appointment)
    entries = _entries_for(patient, provider, appointment) if patient else []
    notes = []
    open_slots = Slot.objects.filter(
        provider=provider, status=Slot.Status.OFFERING,
        start__lt=appointment.end, end__gt=appointment.start).order_by("start")
    filled = None
    for slot in open_slots:
        reason = f"Booked in the EHR (HL7 {header.message_type})"
        # One appointment is one visit: it fills one slot at most, even for a patient
        # waiting for two visits (two entries), who cannot be in two places at once.
        entry = None if filled else next(
            (entry for entry in entries if _fits(entry, slot)), None)
        if entry is not None:
            # Someone from the waitlist got it another way (staff called them): a fill.
            slot_mark_filled_by_phone(slot=slot, by=None, entry=entry, reason=reason)
            notes.append(f"slot {slot.pk} filled in the EHR by waitlist entry {entry.pk}")
            entries.remove(entry)
            filled = slot
        elif filled is not None:
            # The rest of the same appointment's time: no longer ours to offer.
            slot_withdraw(slot=slot, by=None,
                          reason=f"{reason}: the same appointment that filled slot {filled.pk}")
            notes.append(f"slot {slot.pk} withdrawn: booked in the EHR")
        else:
            # Taken by someone not on the waitlist: no longer ours to offer, and not a fill
            # the waitlist made.
            slot_withdraw(slot=slot, by=None, reason=reason + " by a patient not waiting")
            notes.append(f"slot {slot.pk} withdrawn: booked in the EHR")
    for entry in entries:
        HeldAppointment.objects.update_or_create(
            entry=entry, identifier_system=appointment.identifier_system,
            identifier_value=appointment.identifier_value,
            defaults={"start": appointment.start, "end": appointment.end,
                      "provider": provider,
                      "appointment_type": _appointment_type(appointment)})
    for entry in entries:
        moved.setdefault(entry, None)
    notes += _current_appointments_refresh(moved, header, reason="recorded")
    if not notes:
        notes.append("nothing to change: the patient has no waiting waitlist entry for "
                     "this provider" if patient else
                     "nothing to change: not a patient of the waitlist")
    return "; ".join(notes)


def _siu_no_show(message, header: Header) -> str:
    """S26: the patient did not come. The time is past, so there is no slot to fill; the
    appointment no longer holds the patient's place, so it stops being the current
    appointment of their waitlist entries (see docs/hl7.md)."""
    appointment = appointment_read(message, header)
    notes = _current_appointments_refresh(_held_appointments_remove(appointment), header,
                                          reason="ended (no-show)")
    return "; ".join(notes) or "nothing to change: not a waitlisted patient's appointment"


def _held_appointments_remove(appointment: AppointmentInfo) -> dict:
    """Forget this appointment as anyone's current one: {entry: the start it had}."""
    held = list(HeldAppointment.objects.select_related("entry").filter(
        identifier_system=appointment.identifier_system,
        identifier_value=appointment.identifier_value))
    for row in held:
        row.delete()
    return {row.entry: row.start for row in held}


def _current_appointments_refresh(entries: dict, header: Header, *, reason: str) -> list[str]:
    """{entry: start of an appointment it no longer holds, or None} -> what changed."""
    return [f"waitlist entry {entry.pk}: current appointment {reason}"
            for entry, dropped in entries.items()
            if _current_appointment_refresh(entry, header, dropped=dropped, reason=reason)]


def _current_appointment_refresh(entry: WaitlistEntry, header: Header, *, dropped,
                                 reason: str) -> bool:
    """The entry's current appointment is the earliest appointment it holds that is still
    ahead. With none left, a value that came from the dropped one is cleared; one that
    staff typed in for an appointment we never heard of stays. True when it changed."""
    entry.refresh_from_db()
    if entry.status != WaitlistEntry.Status.ACTIVE:
        return False
    upcoming = (HeldAppointment.objects.filter(entry=entry, start__gt=timezone.now())
                .order_by("start").values_list("start", flat=True).first())
    current = entry.current_appointment_at
    if upcoming is not None:
        wanted = upcoming
    elif dropped is not None and current == dropped:
        wanted = None
    else:
        return False
    if wanted == current:
        return False
    entry_update(entry=entry, current_appointment_at=wanted,
                 reason=ehr_services.audit_reason(f"Current appointment {reason}",
                                                  f"HL7 {header.message_type}"))
    return True


def _entries_for(patient: Patient, provider: Provider,
                 appointment: AppointmentInfo) -> list[WaitlistEntry]:
    """The patient's waiting entries this appointment is for: the provider (or any) and the
    appointment type (or any)."""
    appointment_type = _appointment_type(appointment)
    entries = WaitlistEntry.objects.filter(patient=patient, status=WaitlistEntry.Status.ACTIVE)
    entries = entries.filter(Q(any_provider=True) | Q(providers=provider))
    if appointment_type is not None:
        entries = entries.filter(Q(appointment_type=None) | Q(appointment_type=appointment_type))
    return list(entries.distinct().order_by("pk"))


def _fits(entry: WaitlistEntry, slot: Slot) -> bool:
    return entry.appointment_type_id in (None, slot.appointment_type_id)


# --- the patient ------------------------------------------------------------------------

def _patient_find(info: PatientInfo) -> Patient | None:
    """By an identifier learnt before (PID-3), else by mobile number (PID-13), which is how
    the product knows patients. A match by phone teaches us their PID-3 ids."""
    for identifier in info.identifiers:
        known = PatientIdentifier.objects.filter(system=identifier.system,
                                                 value=identifier.value).first()
        if known is not None:
            return known.patient
    patient = Patient.objects.filter(phone=info.phone).first() if info.phone else None
    if patient is not None:
        for identifier in info.identifiers:
            PatientIdentifier.objects.get_or_create(
                system=identifier.system, value=identifier.value,
                defaults={"patient": patient})
    return patient


def _adt_update(message, header: Header) -> str:
    """A08/A31: the patient's phone or language changed in the EHR. Other fields are the
    clinic's own (as with FHIR, the clinic's record wins)."""
    info = patient_read(message, required=True)
    patient = _patient_find(info)
    if patient is None:
        return "nothing to change: not a patient of the waitlist"
    changes = []
    if info.phone and info.phone != patient.phone:
        if Patient.objects.filter(phone=info.phone).exclude(pk=patient.pk).exists():
            raise Hl7Error("the new mobile number belongs to another patient of the waitlist; "
                           "staff must sort this out in the portal", location="PID^1^13",
                           code=DUPLICATE_KEY_IDENTIFIER)
        patient.phone = info.phone
        # A new number has not failed yet; an opt-out (STOP) was the patient's wish and stays.
        patient.phone_invalid_at = None
        changes.append("phone")
    if info.language and info.language != patient.preferred_language:
        patient.preferred_language = info.language
        changes.append("language")
    if not changes:
        return f"patient {patient.pk}: nothing changed"
    save_with_reason(patient, ehr_services.audit_reason(
        f"{' and '.join(changes).capitalize()} updated", f"HL7 {header.message_type}"))
    return f"patient {patient.pk}: {' and '.join(changes)} updated"


HANDLERS: dict[tuple[str, str], Callable[..., str]] = {
    ("SIU", "S12"): _siu_booked,
    ("SIU", "S13"): _siu_booked,
    ("SIU", "S14"): _siu_booked,
    ("SIU", "S15"): _siu_cancelled,
    ("SIU", "S26"): _siu_no_show,
    ("ADT", "A08"): _adt_update,
    ("ADT", "A31"): _adt_update,
}

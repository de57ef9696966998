"""Waitlist entries and slots as FHIR R4 Appointment resources (plain dicts, ready for JSON).

Resource ids say which kind a resource is: `waitlist-<n>` is a waitlist entry, `slot-<n>`
a slot (a cancelled appointment being offered, or booked through the system), and
`freed-<n>` the EHR appointment a chain fill freed (ehr/chain.py): the later appointment a
patient held until they took an earlier slot by SMS, cancelled, whose time is slot `<n>`.
"""

from django.utils import timezone

from clinic.models import Patient, Provider
from offers.models import Slot
from waitlist.models import WaitlistEntry

PATIENT_REF = "patient"
LANGUAGE_SYSTEM = "urn:ietf:bcp:47"
APPOINTMENT_TYPE_SYSTEM = "urn:slotfill:appointment-type"

ENTRY_STATUS = {
    WaitlistEntry.Status.ACTIVE: "waitlist",
    WaitlistEntry.Status.BOOKED: "booked",
    WaitlistEntry.Status.REMOVED: "cancelled",
}


def resource_id_parse(resource_id: str) -> tuple[str, int] | None:
    kind, _, number = resource_id.partition("-")
    if kind in ("waitlist", "slot", "freed") and number.isascii() and number.isdigit() and len(number) < 19:
        return kind, int(number)
    return None


def entry_resource(entry: WaitlistEntry) -> dict:
    resource = _base(f"waitlist-{entry.pk}", entry.updated_at,
                     entry.ehr_identifier_system, entry.ehr_identifier_value)
    resource["status"] = ENTRY_STATUS[entry.status]
    if entry.appointment_type:
        resource["appointmentType"] = _appointment_type(entry.appointment_type)
    resource["priority"] = 1 if entry.urgent else 0
    if entry.comment:
        resource["comment"] = entry.comment
    if entry.status == WaitlistEntry.Status.BOOKED:
        slot = entry.filled_slots.filter(status=Slot.Status.FILLED).order_by("-updated_at").first()
        if slot is not None:
            resource["start"] = _instant(slot.start)
            resource["end"] = _instant(slot.end)
    if entry.earliest_date or entry.latest_date:
        period = {}
        if entry.earliest_date:
            period["start"] = entry.earliest_date.isoformat()
        if entry.latest_date:
            period["end"] = entry.latest_date.isoformat()
        resource["requestedPeriod"] = [period]
    resource["contained"] = [_patient(entry.patient, for_name=entry.for_name)]
    resource["participant"] = [_patient_participant(entry)] + [
        _provider_participant(provider) for provider in entry.providers.all()
    ]
    return _ordered(resource)


def slot_resource(slot: Slot) -> dict:
    resource = _base(f"slot-{slot.pk}", slot.updated_at,
                     slot.ehr_identifier_system, slot.ehr_identifier_value)
    booked = slot.status == Slot.Status.FILLED
    # Until someone takes it, the EHR's appointment stays what the EHR said: cancelled.
    resource["status"] = "booked" if booked else "cancelled"
    if slot.appointment_type:
        resource["appointmentType"] = _appointment_type(slot.appointment_type)
    resource["start"] = _instant(slot.start)
    resource["end"] = _instant(slot.end)
    resource["comment"] = f"Waitlist filler: {slot.get_status_display().lower()}" + (
        f" ({slot.get_filled_via_display()})" if booked and slot.filled_via else "")
    participants = [_provider_participant(slot.provider)]
    entry = slot.filled_entry if booked else None
    if entry is not None:
        resource["contained"] = [_patient(entry.patient, for_name=entry.for_name)]
        participants.insert(0, _patient_participant(entry))
        info = {"reference": f"Appointment/waitlist-{entry.pk}", "display": "waitlist request"}
        if entry.ehr_identifier_value:
            info["identifier"] = _identifier(entry.ehr_identifier_system,
                                             entry.ehr_identifier_value)
        resource["supportingInformation"] = [info]
    resource["participant"] = participants
    return _ordered(resource)


FREED_REASON = "The patient took an earlier appointment through the waitlist"


def freed_resource(slot: Slot) -> dict:
    """A chained slot as the EHR should record the appointment it was: cancelled, for the
    patient who held it (the one booked into `slot.chained_from`), with the EHR's own
    identifier. Its time, offered on, is `slot-<n>` (booked there once someone takes it)."""
    booked = slot.chained_from
    resource = _base(f"freed-{slot.pk}", slot.created_at,
                     slot.ehr_identifier_system, slot.ehr_identifier_value)
    resource["status"] = "cancelled"
    resource["cancelationReason"] = {"text": FREED_REASON}
    if slot.appointment_type:
        resource["appointmentType"] = _appointment_type(slot.appointment_type)
    resource["start"] = _instant(slot.start)
    resource["end"] = _instant(slot.end)
    resource["comment"] = "Waitlist filler: freed by a chain fill"
    participants = [_provider_participant(slot.provider)]
    info = [{"reference": f"Appointment/slot-{slot.pk}",
             "display": "this time, offered to the waitlist"}]
    entry = booked.filled_entry if booked is not None else None
    if entry is not None:
        resource["contained"] = [_patient(entry.patient, for_name=entry.for_name)]
        patient = _patient_participant(entry)
        patient["status"] = "declined"
        participants.insert(0, patient)
        info.insert(0, {"reference": f"Appointment/slot-{booked.pk}",
                        "display": "the earlier appointment the patient took"})
    resource["supportingInformation"] = info
    resource["participant"] = participants
    return _ordered(resource)


def _base(resource_id, updated_at, identifier_system, identifier_value) -> dict:
    resource = {
        "resourceType": "Appointment",
        "id": resource_id,
        # Full precision: the search compares microseconds, so an EHR that polls with
        # gt<the largest lastUpdated it saw> must get that exact moment back.
        "meta": {"lastUpdated": _instant(updated_at, timespec="microseconds")},
    }
    if identifier_value:
        resource["identifier"] = [_identifier(identifier_system, identifier_value)]
    return resource


# FHIR readers do not care, but people reading the JSON do.
ORDER = ["resourceType", "id", "meta", "contained", "identifier", "status", "cancelationReason",
         "appointmentType",
         "priority", "start", "end", "comment", "supportingInformation", "participant",
         "requestedPeriod"]


def _ordered(resource: dict) -> dict:
    return {key: resource[key] for key in ORDER if key in resource}


def _identifier(system: str, value: str) -> dict:
    return {"system": system, "value": value} if system else {"value": value}


def _instant(moment, *, timespec: str = "seconds") -> str:
    """One form for every instant we answer, in POST echoes and GETs alike: the clinic's
    local time with its offset (2027-01-10T10:00:00-06:00), whatever the moment came in as."""
    return timezone.localtime(moment).isoformat(timespec=timespec)


def _appointment_type(appointment_type) -> dict:
    return {
        "coding": [{"system": APPOINTMENT_TYPE_SYSTEM, "code": appointment_type.code,
                    "display": appointment_type.name}],
        "text": appointment_type.name,
    }


def _patient(patient: Patient, *, for_name: str = "") -> dict:
    """The person the visit is for: the phone's owner, or the family member sharing
    that phone whom the entry names (WaitlistEntry.for_name); the phone is the owner's."""
    given, _, family = for_name.strip().partition(" ")
    if not given:
        given, family = patient.first_name, patient.last_name
    name = {"given": [given]}
    if family:
        name["family"] = family
    return {
        "resourceType": "Patient",
        "id": PATIENT_REF,
        "name": [name],
        # A patient offered by call only: a `phone` (as the EHR sent it, CONTRACT.md).
        "telecom": [{"system": "phone", "value": patient.phone} if patient.offered_by_call
                    else {"system": "sms", "value": patient.phone, "use": "mobile"}],
        "communication": [{
            "language": {"coding": [{"system": LANGUAGE_SYSTEM,
                                     "code": patient.preferred_language}]},
            "preferred": True,
        }],
    }


def _patient_participant(entry: WaitlistEntry) -> dict:
    display = entry.for_name or entry.patient.full_name
    return {"actor": {"reference": f"#{PATIENT_REF}", "display": display},
            "status": "accepted"}


def _provider_participant(provider: Provider) -> dict:
    actor = {"display": provider.name}
    if provider.identifier_value:
        actor["identifier"] = _identifier(provider.identifier_system, provider.identifier_value)
    return {"actor": actor, "status": "accepted"}


def capability_statement() -> dict:
    """What /api/fhir/ serves, no more: Appointment read, search and create, behind SMART
    Backend Services (or an API key). ehr/tests/test_metadata.py holds it to the URLs."""
    from django.conf import settings

    from ehr import smart

    base = settings.PUBLIC_BASE_URL + "/api/fhir"
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": CAPABILITY_DATE,
        "publisher": settings.CLINIC_NAME,
        "kind": "instance",
        "software": {"name": "Waitlist filler"},
        "implementation": {"description": f"{settings.CLINIC_NAME}: waitlist filler", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [{
            "mode": "server",
            "documentation": "Cancellations and waitlist requests in, filled slots out.",
            "security": {
                "cors": False,
                "service": [{"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                    "code": "SMART-on-FHIR"}]}],
                "description": "SMART Backend Services: client_credentials with a "
                               "private_key_jwt assertion (RS384 or ES384) at the token "
                               "endpoint; scopes system/Appointment.read and "
                               "system/Appointment.write (v2: .rs, .cud). A static API key "
                               "as the bearer also works.",
                "extension": [{
                    "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                    "extension": [{"url": "token", "valueUri": smart.token_url()}],
                }],
            },
            "resource": [{
                "type": "Appointment",
                "interaction": [
                    {"code": "read",
                     "documentation": "ids waitlist-<n>, slot-<n> and freed-<n>"},
                    {"code": "search-type",
                     "documentation": "status=booked: the slots filled through the system; "
                     "status=cancelled: the appointments chain fills freed"},
                    {"code": "create", "documentation": "status waitlist or cancelled; a "
                     "repeated identifier updates the request or answers the same slot"},
                ],
                "searchParam": [
                    {"name": "status", "type": "token",
                     "documentation": "booked or cancelled"},
                    {"name": "_lastUpdated", "type": "date", "documentation": "gt only"},
                ],
            }],
        }],
    }


CAPABILITY_DATE = "2026-12-02"

"""Reading FHIR R4 Appointment payloads: from request bytes to plain, checked values.

Everything an EHR can get wrong is caught here, before the database is touched, and
raised as a FhirError that names the field (answered as an OperationOutcome).
fhir.resources' R4B models do the FHIR validation; R4B's Appointment is R4's.
"""

import datetime as dt
import json
from dataclasses import dataclass, field

import pydantic
from django.utils import timezone
from fhir.resources.R4B.appointment import Appointment

from clinic.lib.phones import InvalidPhoneNumber, phone_to_e164

# A real Appointment is a few kilobytes; anything far bigger is a mistake or an attack.
MAX_BODY_BYTES = 64 * 1024
MAX_DEPTH = 12
MAX_STRING_CHARS = 2000
MAX_SLOT_HOURS = 12
MAX_DAYS_AHEAD = 2 * 366
SUPPORTED_LANGUAGES = ("en", "es")


class FhirError(Exception):
    """Answered as an OperationOutcome with this HTTP status."""

    def __init__(self, status: int, diagnostics: str, *, code: str = "invalid",
                 expression: str | None = None):
        super().__init__(diagnostics)
        self.status = status
        self.diagnostics = diagnostics
        self.code = code
        self.expression = expression


def invalid(path: str, message: str) -> FhirError:
    return FhirError(422, f"{path}: {message}", expression=path)


@dataclass(frozen=True)
class ProviderRef:
    system: str
    value: str
    display: str
    path: str  # where it came from, for error messages


@dataclass(frozen=True)
class WaitlistRequest:
    phone: str
    first_name: str
    last_name: str
    language: str
    providers: list[ProviderRef]
    appointment_type_codes: list[str]
    earliest_date: dt.date | None
    latest_date: dt.date | None
    urgent: bool
    comment: str
    identifier_system: str = ""
    identifier_value: str = ""
    # "voice" when the patient's only number is a `phone` (no `sms`): offers are calls.
    offer_channel: str = "sms"


@dataclass(frozen=True)
class CancelledAppointment:
    start: dt.datetime
    end: dt.datetime
    provider: ProviderRef
    appointment_type_codes: list[str] = field(default_factory=list)
    identifier_system: str = ""
    identifier_value: str = ""
    # Where the EHR says it is (HL7 AIL); the provider's location otherwise.
    location_names: list[str] = field(default_factory=list)


def json_load(body: bytes) -> object:
    if len(body) > MAX_BODY_BYTES:
        raise FhirError(413, f"The body is larger than {MAX_BODY_BYTES} bytes.", code="too-costly")
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise FhirError(400, "The body is nested too deeply.", code="structure") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        # Includes json.JSONDecodeError and integers too long to convert.
        raise FhirError(400, f"The body is not JSON: {exc}", code="structure") from exc


def _reject_constant(name: str):
    raise ValueError(f"{name} is not allowed in JSON")


def payload_check(data: object) -> None:
    """Refuse nesting, strings and characters that no Appointment needs, before FHIR parsing."""
    stack = [(data, "Appointment", 0)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise invalid(path, f"nested more than {MAX_DEPTH} levels deep")
        if isinstance(value, dict):
            stack.extend((v, f"{path}.{k}"[:200], depth + 1) for k, v in value.items())
            for key in value:
                _string_check(key, path)
        elif isinstance(value, list):
            stack.extend((v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value))
        elif isinstance(value, str):
            _string_check(value, path)


def _string_check(text: str, path: str) -> None:
    if len(text) > MAX_STRING_CHARS:
        raise invalid(path, f"longer than {MAX_STRING_CHARS} characters")
    if "\x00" in text:
        raise invalid(path, "contains a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise invalid(path, "is not valid Unicode text") from exc


def appointment_parse(data: object) -> Appointment:
    if not isinstance(data, dict):
        raise invalid("resourceType", "the body must be a JSON object, an Appointment resource")
    resource_type = data.get("resourceType")
    if resource_type != "Appointment":
        raise invalid("resourceType", f"expected 'Appointment', got {str(resource_type)[:60]!r}")
    payload_check(data)
    try:
        return Appointment.model_validate(data)
    except pydantic.ValidationError as exc:
        raise _from_pydantic(exc) from None
    except Exception as exc:  # noqa: BLE001
        # fhir.resources fails on some garbage with KeyError/TypeError instead of a
        # ValidationError (e.g. a contained resource of an unknown type): still the input's fault.
        raise invalid("Appointment", f"not a valid FHIR R4 Appointment "
                      f"({type(exc).__name__}: {str(exc)[:200]})") from None


def _from_pydantic(exc: pydantic.ValidationError) -> FhirError:
    problems = []
    first_path = None
    for error in exc.errors()[:5]:
        path = "Appointment" + "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"]
        )
        path = path.replace(".resource_type", ".resourceType")
        first_path = first_path or path
        problems.append(f"{path}: {_plain_message(error)}")
    return FhirError(422, "; ".join(problems), expression=first_path)


def _plain_message(error: dict) -> str:
    """fhir.resources says "Instant value string does not match spec regex": say what a
    FHIR instant is instead, with the value the EHR meant, in the clinic's offset."""
    message = error["msg"]
    if "Instant value string does not match spec regex" not in message:
        return message
    given = error.get("input")
    text = given if isinstance(given, str) else ""
    parsed = dt.datetime.fromisoformat(text) if _looks_like_iso(text) else None
    if parsed is not None and timezone.is_aware(parsed):
        return (f"{text[:40]!r} is not a FHIR instant, which gives the seconds too: "
                f"e.g. {parsed.isoformat(timespec='seconds')!r}")
    if parsed is not None:
        meant = timezone.make_aware(parsed).isoformat(timespec="seconds")
        if "T" in text:
            return (f"{text[:40]!r} has no time zone; a FHIR instant needs one, an offset "
                    f"or Z, e.g. {meant!r} for that time at the clinic")
        return (f"{text[:40]!r} is a date; a FHIR instant needs a time and a time zone, "
                f"e.g. {meant!r}")
    return (f"{text[:40]!r} is not a FHIR instant: give a date, a time and a time zone, "
            f"e.g. '2027-01-10T10:00:00-06:00' or '2027-01-10T16:00:00Z'")


def _looks_like_iso(text: str) -> bool:
    try:
        dt.datetime.fromisoformat(text)
    except ValueError:
        return False
    return len(text) >= len("2027-01-10")


# --- status waitlist ----------------------------------------------------------------

def waitlist_request_from(appointment: Appointment) -> WaitlistRequest:
    patient, patient_path = _contained_patient(appointment)
    phone, offer_channel = _patient_phone(patient, patient_path)
    first_name, last_name = _patient_name(patient, patient_path)
    earliest, latest = _requested_dates(appointment)
    system, value = _identifier(appointment)
    return WaitlistRequest(
        phone=phone,
        first_name=first_name,
        last_name=last_name,
        language=_patient_language(patient),
        providers=_providers(appointment, exclude_reference=f"#{patient.id}"),
        appointment_type_codes=_appointment_type_codes(appointment),
        earliest_date=earliest,
        latest_date=latest,
        urgent=bool(appointment.priority and appointment.priority > 0),
        comment=_text(appointment.comment or "", "Appointment.comment", 1000),
        identifier_system=system,
        identifier_value=value,
        offer_channel=offer_channel,
    )


def _contained_patient(appointment: Appointment):
    contained = {
        resource.id: (resource, f"Appointment.contained[{i}]")
        for i, resource in enumerate(appointment.contained or [])
        if resource.get_resource_type() == "Patient" and resource.id
    }
    for i, participant in enumerate(appointment.participant or []):
        reference = participant.actor.reference if participant.actor else None
        if reference and reference.startswith("#"):
            if reference[1:] not in contained:
                raise invalid(f"Appointment.participant[{i}].actor.reference",
                              f"{reference!r} does not name a contained Patient")
            return contained[reference[1:]]
    raise invalid("Appointment.participant",
                  "a waitlist Appointment needs a participant whose actor references a "
                  "contained Patient (e.g. \"#patient\")")


def _patient_phone(patient, path: str) -> tuple[str, str]:
    """The number offers go to, and how: an `sms` telecom is texted; a `phone` one
    without any `sms` is a number that may not take texts (a landline), so it is called
    (docs/voice.md)."""
    telecoms = list(enumerate(patient.telecom or []))
    for wanted, channel in (("sms", "sms"), ("phone", "voice")):
        for i, telecom in telecoms:
            if telecom.system == wanted and telecom.value:
                try:
                    return phone_to_e164(telecom.value), channel
                except InvalidPhoneNumber as exc:
                    raise invalid(f"{path}.telecom[{i}].value", str(exc)) from None
    raise invalid(f"{path}.telecom",
                  "the patient needs a mobile number (telecom with system 'sms' or 'phone')")


def _patient_name(patient, path: str) -> tuple[str, str]:
    names = sorted(patient.name or [], key=lambda name: name.use != "official")
    for name in names:
        given = " ".join(part.strip() for part in (name.given or []) if part.strip())
        family = (name.family or "").strip()
        if not given and name.text:
            given, _, family = name.text.strip().partition(" ")
        if given:
            return (_text(given, f"{path}.name.given", 80), _text(family, f"{path}.name.family", 80))
    raise invalid(f"{path}.name", "the patient needs a given name")


def _patient_language(patient) -> str:
    communications = sorted(patient.communication or [], key=lambda c: not c.preferred)
    for communication in communications:
        codes = [c.code for c in (communication.language.coding or []) if c.code]
        for code in codes:
            language = code.lower().split("-")[0]
            if language in SUPPORTED_LANGUAGES:
                return language
    # The clinic texts in English or Spanish; anything else gets English.
    return "en"


def _requested_dates(appointment: Appointment) -> tuple[dt.date | None, dt.date | None]:
    earliest = latest = None
    for i, period in enumerate(appointment.requestedPeriod or []):
        path = f"Appointment.requestedPeriod[{i}]"
        start = _as_date(period.start, f"{path}.start")
        end = _as_date(period.end, f"{path}.end")
        if start and end and end < start:
            raise invalid(f"{path}.end", "the end is before the start")
        if start:
            earliest = min(earliest, start) if earliest else start
        if end:
            latest = max(latest, end) if latest else end
    if latest and latest < timezone.localdate():
        raise invalid("Appointment.requestedPeriod.end", "the latest acceptable date is past")
    return earliest, latest


def _as_date(value, path: str) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if timezone.is_naive(value):
            return value.date()
        return timezone.localtime(value).date()
    if isinstance(value, dt.date):
        return value
    raise invalid(path, "give a full date (YYYY-MM-DD) or date-time")


# --- status cancelled ---------------------------------------------------------------

def cancelled_appointment_from(appointment: Appointment) -> CancelledAppointment:
    if appointment.start is None:
        raise invalid("Appointment.start", "a cancelled appointment needs its start")
    if appointment.end is None:
        raise invalid("Appointment.end", "a cancelled appointment needs its end")
    start, end = appointment.start, appointment.end
    # The times themselves are checked by ehr.services, for the HL7 feed too.
    providers = _providers(appointment, exclude_reference=None)
    if len(providers) != 1:
        raise invalid("Appointment.participant",
                      "a cancelled appointment needs exactly one provider participant "
                      f"(an actor with an identifier), found {len(providers)}")
    system, value = _identifier(appointment)
    return CancelledAppointment(
        start=start, end=end, provider=providers[0],
        appointment_type_codes=_appointment_type_codes(appointment),
        identifier_system=system, identifier_value=value,
    )


# --- shared -------------------------------------------------------------------------

def _providers(appointment: Appointment, *, exclude_reference: str | None) -> list[ProviderRef]:
    """The participants whose actor carries an identifier are the providers."""
    providers = []
    for i, participant in enumerate(appointment.participant or []):
        actor = participant.actor
        if actor is None or (exclude_reference and actor.reference == exclude_reference):
            continue
        if actor.reference and actor.reference.startswith("#"):
            continue  # a contained patient, e.g. the one whose appointment was cancelled
        path = f"Appointment.participant[{i}].actor"
        if actor.identifier is None or not actor.identifier.value:
            if actor.reference and actor.reference.split("/")[0] in (
                    "Practitioner", "PractitionerRole"):
                raise invalid(f"{path}.identifier",
                              "the provider needs an identifier (system and value)")
            continue
        providers.append(ProviderRef(
            system=_text(actor.identifier.system or "", f"{path}.identifier.system", 255),
            value=_text(actor.identifier.value, f"{path}.identifier.value", 120),
            display=_text(actor.display or "", f"{path}.display", 120),
            path=path,
        ))
    return providers


def _appointment_type_codes(appointment: Appointment) -> list[str]:
    concept = appointment.appointmentType
    if concept is None:
        return []
    return [coding.code for coding in (concept.coding or []) if coding.code]


def _identifier(appointment: Appointment) -> tuple[str, str]:
    for i, identifier in enumerate(appointment.identifier or []):
        if identifier.value:
            path = f"Appointment.identifier[{i}]"
            return (_text(identifier.system or "", f"{path}.system", 255),
                    _text(identifier.value, f"{path}.value", 255))
    return "", ""


def _text(value: str, path: str, max_length: int) -> str:
    value = value.strip()
    if len(value) > max_length:
        raise invalid(path, f"longer than {max_length} characters")
    return value

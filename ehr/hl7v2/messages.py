"""Reading HL7 v2 messages (python-hl7) into plain, checked values, and writing ACKs.

Nothing here touches the database. What a message can get wrong is raised as an
Hl7Error that names the field (ERR-2) and an HL7 table 0357 code (ERR-3); the listener
answers it as an AE, or an AR for what this product does not handle. docs/hl7.md has
the mapping table.
"""

import datetime as dt
import re
import secrets
import zoneinfo
from dataclasses import dataclass, field

import hl7
from django.conf import settings
from django.utils import timezone
from hl7.datatypes import parse_datetime

from clinic.lib.phones import InvalidPhoneNumber, phone_to_e164

# An SIU or ADT message is a few kilobytes; a megabyte one is a mistake (or a result
# with an embedded PDF sent to the wrong port). Refused whole, never buffered further.
MAX_MESSAGE_BYTES = 256 * 1024
MAX_SEGMENTS = 200

# MSH-18 names (HL7 table 0211) and the codecs that read them.
CHARSETS = {
    "": None,  # not said: settings.HL7_ENCODING
    "ASCII": "ascii",
    "8859/1": "latin-1",
    "8859/15": "iso8859-15",
    "ISO IR100": "latin-1",
    "UNICODE UTF-8": "utf-8",
    "ISO IR192": "utf-8",
}

# HL7 table 0357, the codes used here.
SEGMENT_SEQUENCE_ERROR = "100"
REQUIRED_FIELD_MISSING = "101"
DATA_TYPE_ERROR = "102"
TABLE_VALUE_NOT_FOUND = "103"
UNSUPPORTED_MESSAGE_TYPE = "200"
UNSUPPORTED_EVENT_CODE = "201"
UNSUPPORTED_PROCESSING_ID = "202"
UNSUPPORTED_VERSION_ID = "203"
UNKNOWN_KEY_IDENTIFIER = "204"
DUPLICATE_KEY_IDENTIFIER = "205"
APPLICATION_INTERNAL_ERROR = "207"
ERROR_TEXTS = {
    SEGMENT_SEQUENCE_ERROR: "Segment sequence error",
    REQUIRED_FIELD_MISSING: "Required field missing",
    DATA_TYPE_ERROR: "Data type error",
    TABLE_VALUE_NOT_FOUND: "Table value not found",
    UNSUPPORTED_MESSAGE_TYPE: "Unsupported message type",
    UNSUPPORTED_EVENT_CODE: "Unsupported event code",
    UNSUPPORTED_PROCESSING_ID: "Unsupported processing id",
    UNSUPPORTED_VERSION_ID: "Unsupported version id",
    UNKNOWN_KEY_IDENTIFIER: "Unknown key identifier",
    DUPLICATE_KEY_IDENTIFIER: "Duplicate key identifier",
    APPLICATION_INTERNAL_ERROR: "Application internal error",
}

SUPPORTED_EVENTS = {
    "SIU": ("S12", "S13", "S14", "S15", "S26"),
    "ADT": ("A08", "A31"),
}

# This product's name in the ACK's MSH-3/MSH-4.
ACK_APPLICATION = "WAITLIST-FILLER"

SAFE_TEXT = re.compile(r"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*")


class Unreadable(Exception):
    """Not an HL7 v2 message at all (or not one we can read): answered AR, never stored."""


class Hl7Error(Exception):
    """What is wrong with a readable message: answered AE (or AR) and kept for audit."""

    def __init__(self, text: str, *, code: str = DATA_TYPE_ERROR, location: str = "",
                 ack: str = "AE"):
        super().__init__(text)
        self.text = text
        self.code = code
        self.location = location  # e.g. "AIP^1^3" (segment, its sequence, field)
        self.ack = ack


# --- the frame: bytes to text, text to a message ----------------------------------------

def frame_decode(raw: bytes) -> str:
    """Bytes to text in the character set MSH-18 names (else HL7_ENCODING)."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise Unreadable(f"the message is larger than {MAX_MESSAGE_BYTES} bytes")
    if not raw.startswith(b"MSH") or len(raw) < 9:
        raise Unreadable("an HL7 v2 message starts with an MSH segment")
    # MSH is plain ASCII in every character set HL7 allows, so latin-1 (which reads any
    # byte) is enough to find MSH-18 before decoding the whole message.
    msh = raw.split(b"\r", 1)[0].decode("latin-1")
    if len(msh) < 8 or msh[3].isalnum() or msh[3].isspace():
        raise Unreadable("the MSH segment is too short to be one")
    fields = msh.split(msh[3])
    declared = fields[17].split(msh[4])[0].strip().upper() if len(fields) > 17 else ""
    if declared not in CHARSETS:
        raise Unreadable(f"MSH-18 character set {declared[:30]!r} is not supported "
                         f"(use one of {', '.join(name for name in CHARSETS if name)})")
    codec = CHARSETS[declared] or settings.HL7_ENCODING
    try:
        text = raw.decode(codec)
    except UnicodeDecodeError as exc:
        raise Unreadable(f"the bytes are not valid {declared or codec} "
                         f"(at byte {exc.start}); say the character set in MSH-18") from None
    if not SAFE_TEXT.fullmatch(text):
        raise Unreadable("the message contains control characters (NUL, ...) that no HL7 "
                         "text has; is it in another encoding, e.g. UTF-16?")
    return text


def message_parse(text: str) -> hl7.Message:
    # Senders differ on segment ends; HL7 wants CR, some engines send CR LF or LF.
    text = text.replace("\r\n", "\r").replace("\n", "\r").strip("\r")
    separator = text[3:4]
    if not separator or separator.isalnum() or separator.isspace():
        raise Unreadable("MSH-1, the field separator, is missing")
    if len(text.split("\r")) > MAX_SEGMENTS:
        raise Unreadable(f"more than {MAX_SEGMENTS} segments")
    try:
        message = hl7.parse(text)
    except Exception as exc:  # noqa: BLE001
        # python-hl7 raises ParseException, IndexError or ValueError on malformed input.
        raise Unreadable(f"not an HL7 v2 message ({type(exc).__name__})") from None
    if len(message) == 0 or str(message[0][0]) != "MSH":
        raise Unreadable("an HL7 v2 message starts with an MSH segment")
    return message


def value(segment, field_number: int, component: int = 1, repetition: int = 1,
          subcomponent: int = 1) -> str:
    """One leaf of a segment, unescaped; "" when the message does not go that deep."""
    if segment is None:
        return ""
    try:
        return str(segment.extract_field(1, field_number, repetition, component,
                                         subcomponent)).strip()
    except (IndexError, KeyError, TypeError):
        return ""


def repetitions(segment, field_number: int) -> int:
    if segment is None or field_number >= len(segment):
        return 0
    found = segment(field_number)
    if isinstance(found, hl7.Field):
        return len(found)
    return 1 if str(found) else 0


def segments(message: hl7.Message, name: str) -> list:
    return [segment for segment in message if str(segment[0]) == name]


def first_segment(message: hl7.Message, name: str):
    found = segments(message, name)
    return found[0] if found else None


# --- MSH --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Header:
    sending_application: str
    sending_facility: str
    receiving_application: str
    receiving_facility: str
    control_id: str
    message_code: str
    trigger_event: str
    processing_id: str
    version: str
    separators: str = "|^~\\&"

    @property
    def message_type(self) -> str:
        return f"{self.message_code}^{self.trigger_event}".strip("^")

    @property
    def sender(self) -> str:
        return "/".join(part for part in (self.sending_application, self.sending_facility)
                        if part) or "unnamed sender"


def header_read(message: hl7.Message) -> Header:
    msh = message[0]
    header = Header(
        sending_application=value(msh, 3)[:180],
        sending_facility=value(msh, 4)[:180],
        receiving_application=value(msh, 5)[:180],
        receiving_facility=value(msh, 6)[:180],
        control_id=value(msh, 10)[:199],
        message_code=value(msh, 9).upper()[:10],
        trigger_event=value(msh, 9, 2).upper()[:10],
        processing_id=value(msh, 11).upper()[:3],
        version=value(msh, 12)[:10],
        separators=str(msh(1)) + str(msh(2)),
    )
    return header


def header_check(header: Header) -> None:
    """What makes a message one this product does not handle: answered AR."""
    if not header.control_id:
        raise Hl7Error("MSH-10, the message control id, is missing", ack="AR",
                       code=REQUIRED_FIELD_MISSING, location="MSH^1^10")
    events = SUPPORTED_EVENTS.get(header.message_code)
    if events is None:
        raise Hl7Error(f"message type {header.message_code or '(none)'} is not handled here "
                       "(only SIU^S12/S13/S14/S15/S26 and ADT^A08/A31)", ack="AR",
                       code=UNSUPPORTED_MESSAGE_TYPE, location="MSH^1^9")
    if header.trigger_event not in events:
        raise Hl7Error(f"{header.message_type} is not handled here "
                       f"(only {', '.join(f'{header.message_code}^{e}' for e in events)})",
                       ack="AR", code=UNSUPPORTED_EVENT_CODE, location="MSH^1^9^2")
    if not header.version.startswith("2."):
        raise Hl7Error(f"HL7 version {header.version or '(none)'} in MSH-12 is not HL7 v2",
                       ack="AR", code=UNSUPPORTED_VERSION_ID, location="MSH^1^12")


# --- ACKs -------------------------------------------------------------------------------

def escape(text: str, separators: str = "|^~\\&") -> str:
    """Text as an HL7 ST value: delimiters escaped, line breaks gone."""
    field_sep, component, repetition, esc, sub = (separators + "|^~\\&"[len(separators):])[:5]
    replacements = [(esc, f"{esc}E{esc}"), (field_sep, f"{esc}F{esc}"),
                    (component, f"{esc}S{esc}"), (repetition, f"{esc}R{esc}"),
                    (sub, f"{esc}T{esc}")]
    for old, new in replacements:
        text = text.replace(old, new)
    return " ".join(text.split())


def ack_build(*, header: Header | None, code: str, text: str = "",
              error: Hl7Error | None = None) -> str:
    """An original-mode ACK: MSH, MSA (code, their MSH-10, text) and, for AE/AR, ERR."""
    seps = header.separators if header and len(header.separators) == 5 else "|^~\\&"
    f, c = seps[0], seps[1]
    now = timezone.now().strftime("%Y%m%d%H%M%S%z")
    trigger = header.trigger_event if header else ""
    msh = f.join([
        "MSH", seps[1:], ACK_APPLICATION, escape(settings.CLINIC_NAME, seps),
        escape(header.sending_application, seps) if header else "",
        escape(header.sending_facility, seps) if header else "",
        now, "", f"ACK{c}{trigger}{c}ACK" if trigger else "ACK",
        secrets.token_hex(10), (header.processing_id if header else "") or "P",
        (header.version if header and header.version.startswith("2.") else "") or "2.5.1",
    ])
    control_id = escape(header.control_id, seps) if header else ""
    msa = f.join(["MSA", code, control_id, escape(text, seps)[:80]])
    lines = [msh, msa]
    if error is not None:
        location = c.join(escape(part, seps) for part in error.location.split("^"))
        lines.append(f.join([
            "ERR", "", location,
            c.join([error.code, ERROR_TEXTS.get(error.code, ""), "HL70357"]),
            "E", "", "", "", escape(error.text, seps)[:1000],
        ]))
    return "\r".join(lines) + "\r"


def ack_for_unreadable(raw: bytes, reason: str, *, code: str = DATA_TYPE_ERROR) -> str:
    """An AR for bytes we could not read (or apply); it names their MSH-10 when that much
    is legible, so the interface engine can tell which message was refused."""
    header = None
    if raw.startswith(b"MSH") and len(raw) > 8:
        msh = raw[:2000].split(b"\r", 1)[0].decode("latin-1")
        fields = msh.split(msh[3])
        legible = [text if SAFE_TEXT.fullmatch(text) and len(text) < 200 else ""
                   for text in (fields + [""] * 12)[:12]]
        if legible[9]:
            header = Header(sending_application=legible[2], sending_facility=legible[3],
                            receiving_application="", receiving_facility="",
                            control_id=legible[9], message_code="", trigger_event="",
                            processing_id="P", version="2.5.1")
    error = Hl7Error(reason, code=code, ack="AR")
    return ack_build(header=header, code="AR", text=reason, error=error)


# --- values ------------------------------------------------------------------------------

def instant(text: str, location: str) -> dt.datetime | None:
    """An HL7 DTM (YYYYMMDDHHMM[SS][+-ZZZZ]); without an offset, the clinic's local time."""
    if not text:
        return None
    if not re.fullmatch(r"\d{12}(\d{2}(\.\d{1,4})?)?([+-]\d{4})?", text):
        raise Hl7Error(f"{text[:30]!r} is not a date and time to the minute "
                       "(YYYYMMDDHHMM[SS][+ZZZZ])", code=DATA_TYPE_ERROR, location=location)
    try:
        moment = parse_datetime(text)
    except ValueError:
        raise Hl7Error(f"{text[:30]!r} is not a real date and time", code=DATA_TYPE_ERROR,
                       location=location) from None
    if moment.tzinfo is None:
        zone = zoneinfo.ZoneInfo(settings.CLINIC_TIME_ZONE)
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(dt.UTC)


UNITS = {"MIN": 60, "M": 60, "MINUTES": 60, "S": 1, "SEC": 1, "H": 3600, "HR": 3600,
         "HOURS": 3600}


def duration(amount: str, unit: str, location: str) -> dt.timedelta | None:
    if not amount:
        return None
    if not re.fullmatch(r"\d{1,5}", amount):
        raise Hl7Error(f"duration {amount[:20]!r} is not a whole number", location=location)
    seconds = UNITS.get((unit or "MIN").upper())
    if seconds is None:
        raise Hl7Error(f"duration unit {unit[:20]!r} is not one of min, s, h",
                       code=TABLE_VALUE_NOT_FOUND, location=location)
    return dt.timedelta(seconds=int(amount) * seconds)


# --- the patient (PID) -----------------------------------------------------------------

@dataclass(frozen=True)
class PatientId:
    system: str
    value: str


@dataclass(frozen=True)
class PatientInfo:
    identifiers: list[PatientId] = field(default_factory=list)
    phone: str = ""  # E.164, or "" when none that can take texts
    first_name: str = ""
    last_name: str = ""
    language: str = ""  # "en", "es", or "" when PID-15 is empty


def patient_read(message: hl7.Message, *, required: bool) -> PatientInfo | None:
    pid = first_segment(message, "PID")
    if pid is None:
        if required:
            raise Hl7Error("the PID segment (the patient) is missing",
                           code=SEGMENT_SEQUENCE_ERROR, location="PID")
        return None
    identifiers = []
    for number in range(1, repetitions(pid, 3) + 1):
        id_value = value(pid, 3, 1, number)
        if id_value:
            identifiers.append(PatientId(system=value(pid, 3, 4, number)[:180],
                                         value=id_value[:120]))
    return PatientInfo(
        identifiers=identifiers,
        phone=_mobile_phone(pid),
        last_name=value(pid, 5, 1)[:80],
        first_name=value(pid, 5, 2)[:80],
        language=_language(value(pid, 15, 1), value(pid, 15, 2)),
    )


def _mobile_phone(pid) -> str:
    """PID-13's mobile number: the repetition marked CP (cellular phone) in XTN-3, else, when
    none says its equipment, the first. A number marked as a landline or fax is not used."""
    numbers = []
    for number in range(1, repetitions(pid, 13) + 1):
        equipment = value(pid, 13, 3, number).upper()
        text = value(pid, 13, 1, number)
        if not text and value(pid, 13, 7, number):
            text = "".join(value(pid, 13, component, number) for component in (5, 6, 7))
            text = ("+" + text) if value(pid, 13, 5, number) else text
        text = text or value(pid, 13, 12, number)
        if text:
            numbers.append((equipment, text))
    chosen = next((text for equipment, text in numbers if equipment == "CP"), None)
    if chosen is None and numbers and not any(equipment for equipment, _ in numbers):
        chosen = numbers[0][1]
    if chosen is None:
        return ""
    try:
        return phone_to_e164(chosen)
    except InvalidPhoneNumber as exc:
        raise Hl7Error(f"the patient's phone {exc}", location="PID^1^13") from None


def _language(code: str, text: str) -> str:
    code, text = code.lower(), text.lower()
    if not code and not text:
        return ""
    if code.split("-")[0] in ("es", "spa") or text.startswith(("span", "espa")):
        return "es"
    # The clinic texts in English or Spanish; anything else gets English (as with FHIR).
    return "en"


# --- the appointment (SCH, AIS, AIG, AIL, AIP) ---------------------------------------------

@dataclass(frozen=True)
class ProviderId:
    value: str
    name: str
    location: str  # where it came from, e.g. "AIP^1^3"


@dataclass(frozen=True)
class AppointmentInfo:
    identifier_system: str
    identifier_value: str
    start: dt.datetime
    end: dt.datetime
    providers: list[ProviderId]
    service_codes: list[str]
    location_names: list[str]
    status: str  # SCH-25 filler status code, e.g. "Booked", "Cancelled", "Noshow"


def appointment_read(message: hl7.Message, header: Header) -> AppointmentInfo:
    sch = first_segment(message, "SCH")
    if sch is None:
        raise Hl7Error("the SCH segment (the appointment) is missing",
                       code=SEGMENT_SEQUENCE_ERROR, location="SCH")
    system, identifier = _appointment_identifier(sch, header)
    start, end = _timing(message, sch)
    return AppointmentInfo(
        identifier_system=system, identifier_value=identifier, start=start, end=end,
        providers=_providers(message),
        service_codes=_service_codes(message, sch),
        location_names=_locations(message),
        status=value(sch, 25)[:40],
    )


def _appointment_identifier(sch, header: Header) -> tuple[str, str]:
    """SCH-2 (the filler's id: the scheduling system's own) else SCH-1 (the placer's)."""
    for number in (2, 1):
        identifier = value(sch, number, 1)
        if identifier:
            namespace = value(sch, number, 2)
            universal, universal_type = value(sch, number, 3), value(sch, number, 4).upper()
            if universal and universal_type == "ISO":
                system = f"urn:oid:{universal}"
            else:
                system = f"urn:hl7v2:{namespace or header.sending_facility or 'appointment'}"
            if len(identifier) > 255 or len(system) > 255:
                raise Hl7Error("the appointment id is longer than 255 characters",
                               location=f"SCH^1^{number}")
            return system, identifier
    raise Hl7Error("the appointment needs an id: SCH-2 (filler) or SCH-1 (placer)",
                   code=REQUIRED_FIELD_MISSING, location="SCH^1^2")


def _timing(message: hl7.Message, sch) -> tuple[dt.datetime, dt.datetime]:
    """SCH-11 (start and end), else the first of AIS, AIG, AIL, AIP with a start and its
    duration, else SCH-9/SCH-10 as the duration. See docs/hl7.md."""
    start = instant(value(sch, 11, 4), "SCH^1^11^4")
    end = instant(value(sch, 11, 5), "SCH^1^11^5")
    length = None
    if start is None:
        # segment: (start field, duration field, units field)
        for name, fields in (("AIS", (4, 7, 8)), ("AIG", (8, 11, 12)), ("AIL", (6, 9, 10)),
                             ("AIP", (6, 9, 10))):
            for number, segment in enumerate(segments(message, name), start=1):
                where = f"{name}^{number}^"
                start = instant(value(segment, fields[0]), f"{where}{fields[0]}")
                if start is not None:
                    length = duration(value(segment, fields[1]), value(segment, fields[2]),
                                      f"{where}{fields[1]}")
                    break
            if start is not None:
                break
    if start is None:
        raise Hl7Error("the appointment's start is missing: give SCH-11.4 or AIS-4",
                       code=REQUIRED_FIELD_MISSING, location="SCH^1^11^4")
    if end is None:
        length = length or duration(value(sch, 9), value(sch, 10), "SCH^1^9")
        if length is None:
            raise Hl7Error("the appointment's end is missing: give SCH-11.5, a duration in "
                           "AIS-7 (with AIS-8) or SCH-9 (with SCH-10)",
                           code=REQUIRED_FIELD_MISSING, location="SCH^1^11^5")
        end = start + length
    return start, end


def _providers(message: hl7.Message) -> list[ProviderId]:
    """Every AIP-3 (XCN: id^family^given), then every AIG-3 (CWE: id^text)."""
    found = []
    for name, field_number in (("AIP", 3), ("AIG", 3)):
        for number, segment in enumerate(segments(message, name), start=1):
            identifier = value(segment, field_number, 1)
            if not identifier:
                continue
            if name == "AIP":
                display = " ".join(part for part in (
                    value(segment, 3, 6), value(segment, 3, 3), value(segment, 3, 2)) if part)
            else:
                display = value(segment, 3, 2)
            found.append(ProviderId(value=identifier[:120], name=display[:120],
                                    location=f"{name}^{number}^{field_number}"))
    return found


def _service_codes(message: hl7.Message, sch) -> list[str]:
    """AIS-3 (the service, CWE identifier) first, SCH-8 (appointment type) after."""
    codes = [value(segment, 3, 1) for segment in segments(message, "AIS")]
    codes.append(value(sch, 8, 1))
    codes = [code for code in codes if code]
    mapped = settings.HL7_SERVICE_CODES
    return [mapped.get(code.upper(), code)[:60] for code in codes]


def _locations(message: hl7.Message) -> list[str]:
    """AIL-3 (PL): the point of care, else the facility."""
    names = []
    for segment in segments(message, "AIL"):
        for component in (1, 4):
            if value(segment, 3, component):
                names.append(value(segment, 3, component)[:120])
    return names

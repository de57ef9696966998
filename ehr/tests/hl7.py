"""HL7 v2 messages as an interface engine sends them, and a real MLLP client to send them."""

import datetime as dt
import itertools
import socket

import hl7
from django.utils import timezone

from clinic.models import AppointmentType, Location, Patient, Provider
from ehr.models import HeldAppointment, Hl7Message, PatientIdentifier
from messaging.models import Message
from offers.models import Offer, Slot
from waitlist.models import WaitlistEntry

NPI = "1234567893"
SB, EB = b"\x0b", b"\x1c\x0d"
_control_ids = itertools.count(1)


def segment(name: str, fields: dict[int, str]) -> str:
    """A segment from {field number: value}; fields not given are empty."""
    last = max(fields) if fields else 0
    return "|".join([name, *(fields.get(number, "") for number in range(1, last + 1))])


def msh(message_type: str, control_id: str | None = None, *, version="2.5.1",
        charset="", sender=("EPIC", "RIVERSIDE")) -> str:
    control_id = control_id or f"MSG{next(_control_ids):05d}"
    # MSH-1 is the field separator itself, so MSH-2 follows "MSH|" directly.
    fields = ["MSH", "^~\\&", sender[0], sender[1], "WAITLIST", "CLINIC",
              timezone.now().strftime("%Y%m%d%H%M%S"), "", message_type, control_id, "P",
              version, "", "", "", "", "", charset]
    return "|".join(fields).rstrip("|")


def dtm(moment: dt.datetime) -> str:
    return timezone.localtime(moment).strftime("%Y%m%d%H%M%z")


def future_start(days=2, hour=10) -> dt.datetime:
    return (timezone.localtime() + dt.timedelta(days=days)).replace(
        hour=hour, minute=0, second=0, microsecond=0)


def siu(event: str = "S15", *, control_id: str | None = None, start: dt.datetime | None = None,
        minutes: int = 20, provider_id: str = NPI, provider_name: str = "Chen^Maria",
        appointment_id: str = "APT-9001", service: str = "follow-up",
        phone: str = "^PRN^CP^^1^312^5550142", mrn: str = "MRN12345", location: str = "",
        timing: str = "sch", patient: bool = True, extra: tuple[str, ...] = (),
        sender=("EPIC", "RIVERSIDE")) -> str:
    """An SIU message. timing "sch": SCH-11 start and end; "ais": AIS-4 with AIS-7/8."""
    start = start or future_start()
    end = start + dt.timedelta(minutes=minutes)
    status = {"S12": "Booked", "S13": "Booked", "S14": "Booked", "S15": "Cancelled",
              "S26": "Noshow"}.get(event, "")
    sch = {1: f"{appointment_id}^EPIC", 2: f"{appointment_id}^EPIC",
           8: f"{service}^{service}" if service else "", 25: status}
    if timing == "sch":
        sch[11] = f"^^{minutes}^{dtm(start)}^{dtm(end)}"
    lines = [msh(f"SIU^{event}^SIU_S12", control_id, sender=sender), segment("SCH", sch)]
    if patient:
        lines.append(segment("PID", {1: "1", 3: f"{mrn}^^^RIVERSIDE^MR", 5: "Ruiz^Ana",
                                     7: "19800101", 13: phone}))
    lines.append(segment("RGS", {1: "1"}))
    ais = {1: "1", 3: f"{service}^Visit" if service else ""}
    if timing == "ais":
        ais.update({4: dtm(start), 7: str(minutes), 8: "min"})
    lines.append(segment("AIS", ais))
    if location:
        lines.append(segment("AIL", {1: "1", 3: location}))
    if provider_id is not None:
        lines.append(segment("AIP", {1: "1", 3: f"{provider_id}^{provider_name}", 4: "ATND"}))
    lines.extend(extra)
    return "\r".join(lines)


def adt(event: str = "A08", *, control_id: str | None = None, mrn: str = "MRN12345",
        phone: str = "^PRN^CP^^1^312^5550199", language: str = "") -> str:
    return "\r".join([
        msh(f"ADT^{event}^ADT_A01", control_id),
        segment("EVN", {1: event, 2: timezone.now().strftime("%Y%m%d%H%M%S")}),
        segment("PID", {1: "1", 3: f"{mrn}^^^RIVERSIDE^MR", 5: "Ruiz^Ana", 13: phone,
                        15: language}),
        segment("PV1", {1: "1", 2: "O"}),
    ])


class MllpClient:
    """A blocking MLLP client over a real socket, as an interface engine connects."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 20):
        self.socket = socket.create_connection((host, port), timeout=timeout)
        self._buffer = b""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.socket.close()

    def closed_by_peer(self) -> bool:
        """The listener closed the connection (with unread data it resets it)."""
        try:
            return self.socket.recv(100) == b""
        except ConnectionResetError:
            return True

    def send_raw(self, data: bytes) -> None:
        self.socket.sendall(data)

    def read_ack(self) -> bytes:
        """The next framed answer; b"" when the listener closed the connection."""
        while EB not in self._buffer:
            chunk = self.socket.recv(65536)
            if not chunk:
                return b""
            self._buffer += chunk
        frame, _, self._buffer = self._buffer.partition(EB)
        assert frame.startswith(SB), frame[:40]
        return frame[1:]

    def send(self, message: str | bytes, encoding: str = "utf-8") -> "Ack":
        data = message if isinstance(message, bytes) else message.encode(encoding)
        self.send_raw(SB + data + EB)
        return Ack(self.read_ack())


class Ack:
    """An ACK's fields, read with python-hl7."""

    def __init__(self, raw: bytes):
        self.raw = raw
        self.message = hl7.parse(raw.decode("utf-8"))
        self.code = str(self.message["MSA.F1"])
        self.control_id = str(self.message["MSA.F2"])
        self.text = str(self.message["MSA.F3"])
        errors = [s for s in self.message if str(s[0]) == "ERR"]
        self.error_location = str(errors[0](2)) if errors else ""
        self.error_code = str(self.message["ERR.F3.R1.C1"]) if errors else ""
        self.error_text = str(self.message["ERR.F8"]) if errors else ""

    def __repr__(self):
        return f"Ack({self.raw!r})"


def exchange(port: int, *messages: str) -> list[Ack]:
    with MllpClient(port) as client:
        return [client.send(message) for message in messages]


def business_state() -> dict:
    """Everything a message could change (the HL7 log aside)."""
    models = (Patient, Provider, AppointmentType, Location, WaitlistEntry, Slot, Offer, Message,
              HeldAppointment, PatientIdentifier)
    state = {model.__name__: list(model.objects.order_by("pk").values()) for model in models}
    for model in (Patient, WaitlistEntry, Slot, Offer):
        state[f"{model.__name__}.history"] = model.history.count()
    return state


def kept_messages() -> int:
    return Hl7Message.objects.count()

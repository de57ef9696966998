"""What each HL7 message means here (docs/hl7.md), one message at a time, without a socket."""

import datetime as dt

import pytest
from django.core.management import call_command
from django.utils import timezone

from clinic.models import Patient
from clinic.tests.factories import (
    AppointmentTypeFactory,
    LocationFactory,
    PatientFactory,
    ProviderFactory,
)
from ehr.hl7v2.services import hl7_message_receive
from ehr.models import HeldAppointment, Hl7Message, PatientIdentifier
from ehr.tests.hl7 import NPI, Ack, adt, business_state, dtm, future_start, msh, segment, siu
from offers.models import Offer, Slot
from offers.tests.factories import OfferFactory, SlotFactory
from waitlist.models import WaitlistEntry
from waitlist.tests.factories import WaitlistEntryFactory

pytestmark = pytest.mark.django_db

PHONE = "+13125550142"  # what siu()'s PID-13 says


def receive(message: str | bytes, encoding="utf-8") -> Ack:
    raw = message if isinstance(message, bytes) else message.encode(encoding)
    return Ack(hl7_message_receive(raw=raw, peer="10.0.0.5:4000").encode("utf-8"))


@pytest.fixture
def chen(db):
    return ProviderFactory(identifier_value=NPI, name="Dr. Maria Chen")


@pytest.fixture
def follow_up(db):
    return AppointmentTypeFactory(code="follow-up")


# --- S15 ------------------------------------------------------------------------------------

def test_s15_timing_from_ais_with_its_duration(chen, follow_up):
    start = future_start(days=5, hour=14)

    ack = receive(siu("S15", timing="ais", start=start, minutes=45))

    assert ack.code == "AA"
    slot = Slot.objects.get()
    assert (slot.start, slot.end) == (start, start + dt.timedelta(minutes=45))
    assert slot.appointment_type == follow_up
    assert (slot.ehr_identifier_system, slot.ehr_identifier_value) == (
        "urn:hl7v2:EPIC", "APT-9001")


def test_s15_times_without_an_offset_are_the_clinics_local_time(chen, follow_up, settings):
    start = future_start(days=5, hour=9)
    message = siu("S15", start=start).replace(dtm(start), timezone.localtime(start).strftime(
        "%Y%m%d%H%M")).replace(dtm(start + dt.timedelta(minutes=20)), timezone.localtime(
            start + dt.timedelta(minutes=20)).strftime("%Y%m%d%H%M"))

    assert receive(message).code == "AA"
    assert Slot.objects.get().start == start


def test_s15_maps_the_sites_service_codes_and_the_location(chen, follow_up, settings):
    settings.HL7_SERVICE_CODES = {"FUP": "follow-up"}
    north = LocationFactory(name="North clinic")

    ack = receive(siu("S15", service="FUP", location="North clinic^^^RIVERSIDE"))

    assert ack.code == "AA"
    slot = Slot.objects.get()
    assert (slot.appointment_type, slot.location) == (follow_up, north)


def test_s15_for_a_time_already_past_is_accepted_and_opens_nothing(chen, follow_up):
    ack = receive(siu("S15", start=timezone.now() - dt.timedelta(hours=2)))

    assert ack.code == "AA"
    assert "passed" in ack.text
    assert not Slot.objects.exists()


@pytest.mark.parametrize(("change", "location", "words"), [
    ({"minutes": 13 * 60}, "SCH^1^11^5", "longer than 12 hours"),
    ({"start": timezone.now() + dt.timedelta(days=800)}, "SCH^1^11^4", "two years"),
    ({"service": "no-such-type"}, "AIS^1^3", "unknown appointment type"),
    ({"provider_id": None}, "AIP^1^3", "names no provider"),
])
def test_s15_follows_the_fhir_apis_rules(chen, follow_up, change, location, words):
    before = business_state()

    ack = receive(siu("S15", **change))

    assert ack.code == "AE"
    assert words in ack.error_text
    assert ack.error_location == location
    assert business_state() == before


def test_s15_without_times_says_which_fields_to_send(chen, follow_up):
    ack = receive(siu("S15", timing="none"))

    assert (ack.code, ack.error_code, ack.error_location) == ("AE", "101", "SCH^1^11^4")


def test_a_repeated_cancellation_with_another_time_is_refused_like_fhir(chen, follow_up):
    start = future_start(days=3)
    assert receive(siu("S15", start=start)).code == "AA"

    ack = receive(siu("S15", start=start + dt.timedelta(hours=1)))

    assert (ack.code, ack.error_code) == ("AE", "205")
    assert "another time" in ack.error_text
    assert Slot.objects.count() == 1


# --- S12/S13/S14: the patient's current appointment --------------------------------------

def test_s12_records_a_waitlisted_patients_current_appointment(chen, follow_up):
    patient = PatientFactory(phone=PHONE)
    entry = WaitlistEntryFactory(patient=patient, providers=[chen])
    other_provider = WaitlistEntryFactory(patient=patient, providers=[ProviderFactory()])
    start = future_start(days=40)

    ack = receive(siu("S12", start=start, appointment_id="APT-HELD"))

    assert ack.code == "AA"
    entry.refresh_from_db()
    other_provider.refresh_from_db()
    assert entry.current_appointment_at == start
    assert other_provider.current_appointment_at is None
    assert f"waitlist entry {entry.pk}: current appointment recorded" in ack.text
    assert "Current appointment recorded from the EHR (HL7 SIU^S12)" in (
        entry.history.latest().history_change_reason)
    # The patient's EHR id is learnt, so a later ADT update finds them.
    assert PatientIdentifier.objects.get().patient == patient
    # Kept whole (provider, end, type), so a chain fill can offer it when the patient
    # takes an earlier slot (ehr/chain.py).
    held = HeldAppointment.objects.get(entry=entry)
    assert (held.identifier_value, held.start, held.end) == (
        "APT-HELD", start, start + dt.timedelta(minutes=20))
    assert (held.provider, held.appointment_type) == (chen, follow_up)


def test_s13_moves_it_and_s15_of_it_clears_it(chen, follow_up):
    entry = WaitlistEntryFactory(patient=PatientFactory(phone=PHONE))
    first, later = future_start(days=30), future_start(days=60)
    receive(siu("S12", start=first, appointment_id="APT-H"))

    receive(siu("S13", start=later, appointment_id="APT-H"))
    entry.refresh_from_db()
    assert entry.current_appointment_at == later

    ack = receive(siu("S15", start=later, appointment_id="APT-H"))
    entry.refresh_from_db()
    assert entry.current_appointment_at is None
    assert not HeldAppointment.objects.exists()
    # ... and its time is a slot to offer, like any cancellation.
    assert Slot.objects.get().start == later
    assert ack.code == "AA"


def test_the_earliest_of_two_held_appointments_counts(chen, follow_up):
    entry = WaitlistEntryFactory(patient=PatientFactory(phone=PHONE))
    receive(siu("S12", start=future_start(days=50), appointment_id="A-50"))
    receive(siu("S12", start=future_start(days=20), appointment_id="A-20"))

    entry.refresh_from_db()
    assert entry.current_appointment_at == future_start(days=20)

    receive(siu("S26", start=future_start(days=20), appointment_id="A-20"))
    entry.refresh_from_db()
    assert entry.current_appointment_at == future_start(days=50)


def test_s26_no_show_ends_the_current_appointment_and_opens_no_slot(chen, follow_up):
    entry = WaitlistEntryFactory(patient=PatientFactory(phone=PHONE))
    start = timezone.now() + dt.timedelta(minutes=30)
    receive(siu("S12", start=start, appointment_id="APT-NS"))

    ack = receive(siu("S26", start=start, appointment_id="APT-NS"))

    entry.refresh_from_db()
    assert ack.code == "AA"
    assert entry.current_appointment_at is None
    assert not Slot.objects.exists()


def test_a_current_appointment_staff_typed_in_stays_when_an_unknown_one_ends(chen, follow_up):
    typed = future_start(days=90)
    entry = WaitlistEntryFactory(patient=PatientFactory(phone=PHONE),
                                 current_appointment_at=typed)

    receive(siu("S26", start=future_start(days=1), appointment_id="NEVER-SEEN"))

    entry.refresh_from_db()
    assert entry.current_appointment_at == typed


def test_s12_for_someone_not_on_the_waitlist_changes_nothing(chen, follow_up):
    before = business_state()

    ack = receive(siu("S12", start=future_start(days=9)))

    assert ack.code == "AA"
    assert "not a patient of the waitlist" in ack.text
    assert business_state() == before


def test_s12_of_someone_else_into_an_open_slot_withdraws_it_and_ends_its_offers(chen,
                                                                             follow_up):
    slot = SlotFactory(provider=chen, start=future_start(days=2), status=Slot.Status.OFFERING)
    holders = [OfferFactory(slot=slot, status=Offer.Status.SENT,
                            hold_until=timezone.now() + dt.timedelta(minutes=5))
               for _ in range(2)]

    ack = receive(siu("S12", start=slot.start, appointment_id="APT-TAKEN"))

    slot.refresh_from_db()
    assert ack.code == "AA"
    assert f"slot {slot.pk} withdrawn: booked in the EHR" in ack.text
    assert slot.status == Slot.Status.WITHDRAWN
    assert "Booked in the EHR (HL7 SIU^S12)" in slot.history.latest().history_change_reason
    for offer in holders:
        offer.refresh_from_db()
        assert offer.status == Offer.Status.SUPERSEDED


def test_s12_of_the_patient_holding_the_offer_books_them(chen, follow_up):
    patient = PatientFactory(phone=PHONE)
    entry = WaitlistEntryFactory(patient=patient)
    slot = SlotFactory(provider=chen, start=future_start(days=2), status=Slot.Status.OFFERING)
    offer = OfferFactory(slot=slot, entry=entry, status=Offer.Status.SENT,
                         hold_until=timezone.now() + dt.timedelta(minutes=5))

    assert receive(siu("S12", start=slot.start)).code == "AA"

    slot.refresh_from_db()
    offer.refresh_from_db()
    entry.refresh_from_db()
    assert (slot.status, slot.filled_entry) == (Slot.Status.FILLED, entry)
    assert offer.status == Offer.Status.ACCEPTED
    assert entry.status == WaitlistEntry.Status.BOOKED


def test_s12_of_a_patient_waiting_for_two_visits_fills_one_slot_and_withdraws_the_overlap(
        chen, follow_up):
    # Two entries are two visits (docs/how-offers-work.md), but one appointment is one
    # of them: the patient is not booked into two overlapping slots.
    patient = PatientFactory(phone=PHONE)
    first = WaitlistEntryFactory(patient=patient)
    WaitlistEntryFactory(patient=patient, any_provider=False, providers=[chen],
                         appointment_type=follow_up)
    start = future_start(days=2)
    slots = [SlotFactory(provider=chen, start=start, end=start + dt.timedelta(minutes=20),
                         appointment_type=follow_up, status=Slot.Status.OFFERING)
             for _ in range(2)]

    ack = receive(siu("S12", start=start, minutes=20))

    assert ack.code == "AA"
    for slot in slots:
        slot.refresh_from_db()
    assert [slot.status for slot in slots] == [Slot.Status.FILLED, Slot.Status.WITHDRAWN]
    assert slots[0].filled_entry == first
    assert f"the same appointment that filled slot {slots[0].pk}" in (
        slots[1].history.latest().history_change_reason)
    assert WaitlistEntry.objects.filter(patient=patient,
                                        status=WaitlistEntry.Status.ACTIVE).count() == 1


def test_s12_needs_the_patient(chen, follow_up):
    ack = receive(siu("S12", patient=False))

    assert (ack.code, ack.error_location) == ("AE", "PID")


# --- ADT A08/A31 ---------------------------------------------------------------------------

def test_a08_updates_a_known_patients_phone_and_language(chen, follow_up):
    patient = PatientFactory(phone=PHONE, preferred_language="en",
                             phone_invalid_at=timezone.now())
    WaitlistEntryFactory(patient=patient)
    receive(siu("S12", start=future_start(days=30)))  # teaches us MRN12345

    ack = receive(adt("A08", phone="^PRN^PH^^1^312^5550100~^ORN^CP^^1^312^5550199",
                      language="SPA^Spanish^ISO6392"))

    patient.refresh_from_db()
    assert ack.code == "AA"
    assert (patient.phone, patient.preferred_language) == ("+13125550199", "es")
    assert patient.phone_invalid_at is None
    assert "Phone and language updated from the EHR (HL7 ADT^A08)" in (
        patient.history.latest().history_change_reason)


def test_a31_finds_a_patient_by_phone_when_their_id_is_new(chen, follow_up):
    patient = PatientFactory(phone="+13125550199", preferred_language="es")

    ack = receive(adt("A31", mrn="NEW-ID", language="ENG^English"))

    patient.refresh_from_db()
    assert ack.code == "AA"
    assert patient.preferred_language == "en"
    assert PatientIdentifier.objects.get(value="NEW-ID").patient == patient


def test_a08_never_moves_a_number_another_patient_has(chen, follow_up):
    patient = PatientFactory(phone=PHONE)
    PatientFactory(phone="+13125550199")
    PatientIdentifier.objects.create(patient=patient, system="RIVERSIDE", value="MRN12345")
    before = business_state()

    ack = receive(adt("A08"))

    assert (ack.code, ack.error_location) == ("AE", "PID^1^13")
    assert business_state() == before


def test_a08_ignores_a_landline_and_someone_we_do_not_know(chen, follow_up):
    patient = PatientFactory(phone=PHONE)
    PatientIdentifier.objects.create(patient=patient, system="RIVERSIDE", value="MRN12345")

    landline = receive(adt("A08", phone="^PRN^PH^^1^312^5550100"))
    stranger = receive(adt("A08", mrn="SOMEONE-ELSE", phone="^PRN^CP^^1^312^5550111"))

    patient.refresh_from_db()
    assert (landline.code, stranger.code) == ("AA", "AA")
    assert patient.phone == PHONE
    assert "not a patient of the waitlist" in stranger.text
    assert not Patient.objects.filter(phone="+13125550111").exists()


# --- reading ---------------------------------------------------------------------------------

def test_latin1_declared_in_msh18_is_read(chen, follow_up):
    rest = siu("S15").split("\r", 1)[1]
    header = msh("SIU^S15^SIU_S12", "LATIN", charset="8859/1")
    text = header + "\r" + rest.replace("Ruiz^Ana", "Peña^José")

    ack = receive(text, encoding="latin-1")

    assert ack.code == "AA"
    assert "Peña^José" in Hl7Message.objects.get().raw


def test_bytes_that_are_not_the_declared_charset_are_refused_and_not_kept(chen, follow_up):
    header = msh("SIU^S15^SIU_S12", "BAD-UTF8", charset="UNICODE UTF-8")
    raw = (header + "\r" + siu("S15").split("\r", 1)[1]).encode() + b"\rNTE|1||caf\xe9"

    ack = Ack(hl7_message_receive(raw=raw).encode())

    assert (ack.code, ack.control_id) == ("AR", "BAD-UTF8")
    assert "not valid UNICODE UTF-8" in ack.error_text
    assert not Hl7Message.objects.exists()


def test_line_feeds_between_segments_are_read_as_segment_ends(chen, follow_up):
    assert receive(siu("S15").replace("\r", "\r\n")).code == "AA"
    assert Slot.objects.count() == 1


def test_delimiters_in_the_reason_are_escaped_in_the_ack(chen, follow_up):
    ack = receive(siu("S15", provider_id="77|7^x", provider_name="A&B^C~D"))

    assert ack.code == "AE"
    assert len(ack.message.segments("ERR")) == 1
    assert "unknown provider" in ack.error_text


def test_a_message_without_control_id_is_refused(chen, follow_up):
    message = siu("S15").split("\r", 1)
    fields = message[0].split("|")
    fields[9] = ""
    ack = receive("|".join(fields) + "\r" + message[1])

    assert (ack.code, ack.error_location) == ("AR", "MSH^1^10")


def test_segments_are_read_by_position_not_by_order(chen, follow_up):
    # AIP before AIS, an extra NTE, and an unknown Z-segment: still one slot.
    start = future_start(days=6)
    message = "\r".join([
        msh("SIU^S15^SIU_S12"),
        segment("SCH", {2: "Z1^EPIC", 11: f"^^20^{dtm(start)}^{dtm(start + dt.timedelta(minutes=20))}"}),
        segment("NTE", {1: "1", 3: "patient called"}),
        segment("AIP", {1: "1", 3: f"{NPI}^Chen^Maria"}),
        segment("ZXY", {1: "site specific"}),
        segment("AIS", {1: "1", 3: "follow-up"}),
    ])

    assert receive(message).code == "AA"
    assert Slot.objects.get().start == start


def test_the_log_names_the_message_never_the_patient(chen, follow_up, caplog):
    WaitlistEntryFactory(patient=PatientFactory(phone=PHONE, last_name="Ruiz"))

    with caplog.at_level("INFO", logger="ehr.hl7v2"):
        receive(siu("S12", start=future_start(days=30), control_id="LOGGED"))
        receive(siu("S12", phone="^PRN^CP^^1^312^555", control_id="BAD-PHONE"))

    assert "LOGGED" in caplog.text
    assert "BAD-PHONE" in caplog.text
    for private in ("Ruiz", "Ana", "5550142", "MRN12345", "19800101"):
        assert private not in caplog.text


def test_purging_old_messages_keeps_what_happened_and_applied_once(chen, follow_up):
    receive(siu("S15", control_id="OLD-1"))
    Hl7Message.objects.update(received_at=timezone.now() - dt.timedelta(days=91))
    receive(siu("S15", control_id="NEW-1", appointment_id="APT-NEW"))

    call_command("purge_hl7_messages", "--older-than", "90")

    old, new = Hl7Message.objects.order_by("received_at")
    assert (old.raw, old.control_id, old.ack_code) == ("", "OLD-1", "AA")
    assert old.raw_purged_at is not None
    assert "Ruiz" in new.raw
    assert "already applied" in receive(siu("S15", control_id="OLD-1")).text
    assert Slot.objects.count() == 2

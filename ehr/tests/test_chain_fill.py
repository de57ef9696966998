"""Chain fills (ehr/chain.py): a patient who takes an earlier slot by SMS frees the later
appointment the EHR told us they held; it is offered in turn, linked to the booking, and
the FHIR write-back reports it cancelled. Committing for real (on_commit runs), tasks
eager; the race tests use real connections on PostgreSQL."""

import datetime as dt

import pytest
from django.utils import timezone
from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.bundle import Bundle

from clinic.tests.concurrency import run_together
from clinic.tests.factories import AppointmentTypeFactory, PatientFactory, ProviderFactory
from ehr import chain
from ehr.models import HeldAppointment
from ehr.tests.payloads import URL, get
from offers import approval, signals
from offers.models import Offer, OfferRule, Slot
from offers.replies import handle_reply
from offers.services import slot_open
from waitlist.models import WaitlistEntry
from waitlist.tests.factories import WaitlistEntryFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def engine_settings(settings):
    settings.SMS_SEND_HOURS = (dt.time(0, 0), None)
    settings.SMS_BACKEND = "console"
    settings.OFFER_BATCH_SIZE = 3
    # The freed appointment is offered the moment the booking commits, to patients the
    # earlier slot texted a minute ago: the gap between offer texts (offers/tests/
    # test_fatigue.py) would only make it wait here.
    settings.OFFER_MIN_GAP_MINUTES = 0


@pytest.fixture
def provider():
    return ProviderFactory(name="Dr. Maya Patel")


def at(days, hour=10):
    return (timezone.localtime() + dt.timedelta(days=days)).replace(
        hour=hour, minute=0, second=0, microsecond=0)


def holding(provider, *, days=21, value="APT-77", boost=40, **kwargs):
    """A waitlisted patient holding a later appointment the EHR told us of (HL7 S12)."""
    start = at(days, 15)
    entry = WaitlistEntryFactory(boost=boost, current_appointment_at=start,
                                 patient=PatientFactory(first_name="Ana"), **kwargs)
    HeldAppointment.objects.create(
        entry=entry, identifier_system="urn:oid:1.2.3.4", identifier_value=value,
        start=start, end=start + dt.timedelta(minutes=30), provider=provider)
    return entry


def open_soon(provider, **kwargs):
    start = at(2)
    return slot_open(provider=provider, start=start, end=start + dt.timedelta(minutes=20),
                     **kwargs)


def yes(entry):
    return handle_reply(patient=entry.patient, intent="yes")


def test_taking_an_earlier_slot_frees_the_later_appointment_and_offers_it(provider):
    ana = holding(provider)
    ben = WaitlistEntryFactory(boost=0, patient=PatientFactory(first_name="Ben"))
    slot = open_soon(provider)

    assert yes(ana).template == "confirmation"

    chained = Slot.objects.get(chained_from=slot)
    assert chained.source == Slot.Source.CHAIN
    assert chained.start == at(21, 15)
    assert chained.end == at(21, 15) + dt.timedelta(minutes=30)
    assert (chained.provider, chained.ehr_identifier_value) == (provider, "APT-77")
    assert chained.status == Slot.Status.OFFERING
    # Offered in turn: Ben (Ana is booked and off the list).
    assert list(chained.offers.values_list("entry_id", flat=True)) == [ben.pk]
    assert not HeldAppointment.objects.exists()
    assert "chain fill" in chained.history.earliest().history_change_reason


def test_the_write_back_reports_the_freed_appointment_cancelled(client, provider):
    from ehr.models import ApiKey

    _, key = ApiKey.issue(name="Epic test")
    ana = holding(provider)
    slot = open_soon(provider)
    yes(ana)
    chained = Slot.objects.get(chained_from=slot)

    bundle = get(client, key, status="cancelled").json()

    Bundle.model_validate(bundle)
    assert bundle["total"] == 1
    resource = bundle["entry"][0]["resource"]
    Appointment.model_validate(resource)
    assert resource["id"] == f"freed-{chained.pk}"
    assert resource["status"] == "cancelled"
    assert resource["identifier"] == [{"system": "urn:oid:1.2.3.4", "value": "APT-77"}]
    assert resource["contained"][0]["telecom"][0]["value"] == ana.patient.phone
    assert {"reference": f"Appointment/slot-{slot.pk}",
            "display": "the earlier appointment the patient took"} in (
        resource["supportingInformation"])
    assert get(client, key, f"{URL}/freed-{chained.pk}").json() == resource
    # status=booked keeps answering exactly what it did: the slot Ana took.
    booked = get(client, key, status="booked").json()
    assert [e["resource"]["id"] for e in booked["entry"]] == [f"slot-{slot.pk}"]
    later = resource["meta"]["lastUpdated"]
    assert get(client, key, status="cancelled", _lastUpdated=f"gt{later}").json()["total"] == 0


def test_a_date_typed_by_staff_without_an_ehr_appointment_is_not_chained(provider):
    ana = WaitlistEntryFactory(boost=40, current_appointment_at=at(21, 15))
    slot = open_soon(provider)
    yes(ana)
    slot.refresh_from_db()
    assert slot.status == Slot.Status.FILLED
    assert not Slot.objects.filter(chained_from__isnull=False).exists()
    assert Slot.objects.count() == 1


def test_no_chain_while_approval_is_pending_then_one_when_approved(provider, manager_user):
    visit = AppointmentTypeFactory(code="neuro-new", name="New neurology visit")
    OfferRule.objects.create(appointment_type=visit, booking_mode=OfferRule.BookingMode.APPROVAL)
    ana = holding(provider)
    slot = open_soon(provider, appointment_type=visit)

    assert yes(ana).template == "booking_pending"
    assert not Slot.objects.filter(chained_from=slot).exists()
    assert HeldAppointment.objects.count() == 1

    offer = Offer.objects.get(slot=slot, entry=ana)
    approval.booking_approve(offer_id=offer.pk, by=manager_user)
    assert Slot.objects.filter(chained_from=slot).count() == 1


def test_a_repeated_chain_task_and_the_sweep_open_nothing_twice(provider):
    ana = holding(provider)
    slot = open_soon(provider)
    yes(ana)
    first = Slot.objects.get(chained_from=slot)
    assert chain.slot_chain_fill(slot_id=slot.pk) == first
    assert chain.chain_fills_missed() == 0
    assert Slot.objects.filter(source=Slot.Source.CHAIN).count() == 1


@pytest.fixture
def task_lost():
    """The chain task after commit never runs (a broker outage)."""
    signals.slot_booked.disconnect(dispatch_uid="ehr-chain-fill")
    yield
    signals.slot_booked.connect(chain.on_slot_booked, dispatch_uid="ehr-chain-fill")


def test_the_sweep_chains_a_booking_whose_task_was_lost(provider, task_lost):
    ana = holding(provider)
    slot = open_soon(provider)
    yes(ana)
    assert not Slot.objects.filter(chained_from=slot).exists()
    assert chain.chain_fills_missed() == 1
    assert Slot.objects.get(chained_from=slot).ehr_identifier_value == "APT-77"


def test_an_appointment_the_ehr_already_cancelled_is_not_opened_twice(provider):
    ana = holding(provider)
    already = slot_open(provider=provider, start=at(21, 15),
                        end=at(21, 15) + dt.timedelta(minutes=30),
                        ehr_identifier_system="urn:oid:1.2.3.4", ehr_identifier_value="APT-77")
    slot = open_soon(provider)
    WaitlistEntry.objects.filter(pk=ana.pk).update(boost=40)
    yes(ana)
    assert Slot.objects.filter(ehr_identifier_value="APT-77").get() == already
    assert not Slot.objects.filter(chained_from=slot).exists()


@pytest.mark.postgres
@pytest.mark.parametrize("attempt", range(3))
def test_concurrent_yeses_book_once_and_chain_once(provider, attempt):
    ana = holding(provider, value="APT-A")
    ben = holding(provider, value="APT-B", boost=39, days=22)
    slot = open_soon(provider)
    assert Offer.objects.filter(slot=slot).count() == 2

    results = run_together([lambda: yes(ana), lambda: yes(ben)])

    assert sorted(r.template for r in results) == ["already_filled", "confirmation"]
    chained = list(Slot.objects.filter(chained_from__isnull=False))
    assert len(chained) == 1
    winner = Slot.objects.get(pk=slot.pk).filled_entry
    assert chained[0].chained_from_id == slot.pk
    assert chained[0].ehr_identifier_value == ("APT-A" if winner == ana else "APT-B")


@pytest.mark.postgres
@pytest.mark.parametrize("attempt", range(3))
def test_chain_runs_at_once_open_one_slot(provider, task_lost, attempt):
    ana = holding(provider)
    slot = open_soon(provider)
    yes(ana)

    results = run_together([lambda: chain.slot_chain_fill(slot_id=slot.pk),
                            lambda: chain.slot_chain_fill(slot_id=slot.pk),
                            lambda: chain.chain_fills_missed()])

    made = Slot.objects.get(chained_from=slot)
    assert [r.pk for r in results[:2]] == [made.pk, made.pk]
    assert Slot.objects.filter(source=Slot.Source.CHAIN).count() == 1


def test_staff_see_the_chain_on_today(client, provider, front_desk_user):
    ana = holding(provider)
    ana.patient.last_name = "Ruiz"
    ana.patient.save()
    typed = WaitlistEntryFactory(boost=30, current_appointment_at=at(10, 9),
                                 patient=PatientFactory(first_name="Cleo", last_name="Park"))
    slot = open_soon(provider)
    yes(ana)
    chained = Slot.objects.get(chained_from=slot)
    other = open_soon(ProviderFactory(name="Dr. Lee"))
    handle_reply(patient=typed.patient, intent="yes")
    assert Slot.objects.get(pk=other.pk).filled_entry == typed

    client.force_login(front_desk_user)
    page = client.get("/").content.decode()

    later, took = timezone.localtime(chained.start), timezone.localtime(slot.start)
    assert (f"Chain fill: their later appointment, {later:%a %b %-d} · 3:00 PM, was "
            "freed and offered in turn (unfilled).") in page
    assert (f"Chain fill: freed when Ana Ruiz took Dr. Maya Patel's {took:%a %b %-d} · "
            "10:00 AM instead; the EHR hears it cancelled.") in page
    # A date staff typed in, never named by the EHR: staff are told to cancel it there.
    assert "They also had an appointment on" in page
    assert "cancel it in the EHR so it can be offered" in page

"""Waitlist hygiene (waitlist/checkins.py): long-waiting patients are asked whether they
still want an earlier appointment; YES keeps them, NO or silence takes them off, audited.
Twilio is faked at its HTTP API; replies come through the signed webhook."""

import datetime as dt
import xml.etree.ElementTree as ET

import pytest
from django.utils import timezone

from clinic.tests.factories import PatientFactory, ProviderFactory
from messaging.models import Message
from messaging.tests.twilio_fakes import FROM_NUMBER, faked_twilio, twilio_post
from offers.models import Offer
from offers.services import slot_open
from waitlist import checkins
from waitlist.models import CheckIn, WaitlistEntry
from waitlist.tests.factories import WaitlistEntryFactory

pytestmark = pytest.mark.django_db(transaction=True)

DAYS = dt.timedelta(days=1)


@pytest.fixture
def fake_twilio(monkeypatch):
    with faked_twilio(monkeypatch) as transport:
        yield transport


@pytest.fixture(autouse=True)
def hygiene_settings(settings):
    settings.SMS_SEND_HOURS = (dt.time(0, 0), None)
    settings.WAITLIST_CHECK_IN_DAYS = 30
    settings.WAITLIST_CHECK_IN_REPLY_HOURS = 48
    settings.CLINIC_NAME = "Riverside Family Clinic"


def reply(client, patient, body, sid):
    response = twilio_post(client, "/twilio/sms/", {
        "From": patient.phone, "To": FROM_NUMBER, "Body": body, "MessageSid": sid})
    assert response.status_code == 200
    return "".join(m.text or "" for m in ET.fromstring(response.content).iter("Message"))


def old_entry(days=31, **kwargs):
    return WaitlistEntryFactory(added_at=timezone.now() - days * DAYS, **kwargs)


def test_long_waiting_patient_is_asked_once_without_visit_details(fake_twilio):
    appointment_type_entry = old_entry(patient=PatientFactory(first_name="Ana"),
                                       comment="knee pain, orthopedics")
    old_entry(days=5)  # not due yet

    assert checkins.checkins_sweep() == {"lapsed": 0, "asked": 1}
    assert checkins.checkins_sweep() == {"lapsed": 0, "asked": 0}  # never twice

    [sent] = fake_twilio.sent
    assert sent["To"] == appointment_type_entry.patient.phone
    assert sent["Body"] == ("Riverside Family Clinic: Hi Ana, still want an earlier appointment "
                            "with Riverside Family Clinic? Reply YES to stay on the list, NO "
                            "to leave. Questions? Call (312) 555-0100. STOP=opt out")
    assert "knee" not in sent["Body"]
    assert "ortho" not in sent["Body"]
    check_in = CheckIn.objects.get()
    assert check_in.status == CheckIn.Status.ASKED
    assert check_in.message.kind == checkins.CHECK_IN_KIND


def test_one_text_asks_about_all_of_a_patients_due_entries(fake_twilio):
    patient = PatientFactory()
    first = old_entry(patient=patient, for_name="")
    second = old_entry(patient=patient, for_name="Leo Lopez")
    assert checkins.checkins_send_due() == 1
    assert len(fake_twilio.sent) == 1
    assert set(CheckIn.objects.values_list("entry_id", flat=True)) == {first.pk, second.pk}


def test_yes_keeps_the_entry_and_restarts_its_clock(client, fake_twilio):
    entry = old_entry()
    checkins.checkins_send_due()

    answer = reply(client, entry.patient, "yes", "SM" + "1" * 32)

    assert "You stay on our waitlist" in answer
    assert CheckIn.objects.get().status == CheckIn.Status.KEPT
    entry.refresh_from_db()
    assert entry.status == WaitlistEntry.Status.ACTIVE
    assert entry.history.first().history_change_reason.endswith(checkins.KEPT_REASON)
    # The clock restarted: not asked again now, but 30 days after the YES.
    assert checkins.checkins_send_due() == 0
    later = timezone.now() + 31 * DAYS
    assert checkins.checkins_send_due(now=later) == 1


def test_no_takes_the_entry_off_audited_as_the_patients_doing(client, fake_twilio):
    entry = old_entry()
    checkins.checkins_send_due()

    answer = reply(client, entry.patient, "No thanks", "SM" + "2" * 32)

    assert "off our waitlist" in answer
    entry.refresh_from_db()
    assert entry.status == WaitlistEntry.Status.REMOVED
    record = entry.history.first()
    assert checkins.LEFT_REASON in record.history_change_reason
    assert "patient by SMS" in record.history_change_reason
    assert CheckIn.objects.get().status == CheckIn.Status.LEFT


def test_the_same_reply_delivered_twice_acts_once(client, fake_twilio):
    entry = old_entry()
    checkins.checkins_send_due()
    sid = "SM" + "3" * 32
    reply(client, entry.patient, "no", sid)
    assert reply(client, entry.patient, "no", sid) == ""
    assert entry.history.filter(status=WaitlistEntry.Status.REMOVED).count() == 1
    assert Message.objects.filter(direction="in").count() == 1


def test_no_answer_in_time_lapses_audited_and_staff_see_who_lapsed(client, fake_twilio,
                                                                    manager_user):
    entry = old_entry(patient=PatientFactory(first_name="Rosa", last_name="Diaz"))
    checkins.checkins_send_due()
    assert checkins.checkins_lapse_due(now=timezone.now() + dt.timedelta(hours=47)) == 0

    assert checkins.checkins_lapse_due(now=timezone.now() + dt.timedelta(hours=49)) == 1

    entry.refresh_from_db()
    assert entry.status == WaitlistEntry.Status.REMOVED
    assert "Check-in: no answer within 48 h" in (
        entry.history.first().history_change_reason)
    assert list(checkins.entries_lapsed()) == [entry]
    client.force_login(manager_user)
    page = client.get("/waitlist/?show=lapsed").content.decode()
    assert "Rosa Diaz" in page
    assert "taken off the list" in page
    admin = client.get("/admin/waitlist/waitlistentry/?check_in=lapsed").content.decode()
    assert "Rosa Diaz" in admin


def test_nobody_is_asked_outside_texting_hours_or_after_opting_out(settings, fake_twilio):
    entry = old_entry()
    old_entry(patient=PatientFactory(sms_opted_out_at=timezone.now()))
    settings.SMS_SEND_HOURS = (dt.time(8, 0), dt.time(20, 0))
    night = timezone.localtime().replace(hour=22, minute=0)
    assert checkins.checkins_send_due(now=night) == 0
    day = timezone.localtime().replace(hour=10, minute=0)
    assert checkins.checkins_send_due(now=day) == 1
    assert [form["To"] for form in fake_twilio.sent] == [entry.patient.phone]


def test_stop_closes_the_check_in_so_nobody_lapses_for_opting_out(client, fake_twilio):
    entry = old_entry()
    checkins.checkins_send_due()
    reply(client, entry.patient, "STOP", "SM" + "4" * 32)
    assert CheckIn.objects.get().status == CheckIn.Status.CLOSED
    assert checkins.checkins_lapse_due(now=timezone.now() + 3 * DAYS) == 0
    entry.refresh_from_db()
    assert entry.status == WaitlistEntry.Status.ACTIVE


def _offer_to(entry):
    provider = ProviderFactory()
    start = (timezone.localtime() + 2 * DAYS).replace(hour=10, minute=0, second=0,
                                                       microsecond=0)
    slot = slot_open(provider=provider, start=start, end=start + dt.timedelta(minutes=20))
    return Offer.objects.get(slot=slot, entry=entry)


def test_a_live_offer_takes_the_yes_and_the_check_in_closes(client, fake_twilio):
    entry = old_entry()
    checkins.checkins_send_due()
    offer = _offer_to(entry)

    answer = reply(client, entry.patient, "YES", "SM" + "5" * 32)

    assert "You're booked" in answer
    offer.refresh_from_db()
    assert offer.status == Offer.Status.ACCEPTED
    assert CheckIn.objects.get().status == CheckIn.Status.CLOSED


def test_a_no_to_a_live_offer_declines_it_and_keeps_the_patient(client, fake_twilio):
    entry = old_entry()
    checkins.checkins_send_due()
    offer = _offer_to(entry)

    reply(client, entry.patient, "no", "SM" + "6" * 32)

    offer.refresh_from_db()
    assert offer.status == Offer.Status.DECLINED
    entry.refresh_from_db()
    assert entry.status == WaitlistEntry.Status.ACTIVE
    assert CheckIn.objects.get().status == CheckIn.Status.KEPT


def test_a_late_no_to_an_offer_newer_than_the_check_in_never_removes(client, fake_twilio):
    entry = old_entry()
    checkins.checkins_send_due()
    offer = _offer_to(entry)
    Offer.objects.filter(pk=offer.pk).update(status=Offer.Status.EXPIRED)

    reply(client, entry.patient, "no", "SM" + "7" * 32)

    entry.refresh_from_db()
    assert entry.status == WaitlistEntry.Status.ACTIVE


@pytest.mark.postgres
def test_two_sweeps_at_once_text_each_patient_once(fake_twilio):
    import threading

    from django.db import connection

    entries = [old_entry() for _ in range(6)]
    barrier = threading.Barrier(2)
    results = []

    def run():
        try:
            barrier.wait()
            results.append(checkins.checkins_send_due())
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(results) == len(entries)
    assert CheckIn.objects.count() == len(entries)
    assert sorted(form["To"] for form in fake_twilio.sent) == sorted(
        e.patient.phone for e in entries)


@pytest.mark.postgres
@pytest.mark.parametrize("attempt", range(3))
def test_a_reply_racing_the_lapse_sweep_settles_the_check_in_once(client, fake_twilio,
                                                                  attempt):
    from clinic.tests.concurrency import run_together
    from messaging.services import inbound_handle

    entry = old_entry()
    checkins.checkins_send_due()
    CheckIn.objects.update(answer_by=timezone.now())  # due to lapse right now

    run_together([
        lambda: inbound_handle(from_number=entry.patient.phone, to_number=FROM_NUMBER,
                               body="no", sid=f"SM{attempt:032d}"),
        lambda: checkins.checkins_lapse_due(),
    ])

    entry.refresh_from_db()
    assert entry.status == WaitlistEntry.Status.REMOVED
    assert entry.history.filter(status=WaitlistEntry.Status.REMOVED).count() == 1
    assert CheckIn.objects.get().status in (CheckIn.Status.LEFT, CheckIn.Status.LAPSED)

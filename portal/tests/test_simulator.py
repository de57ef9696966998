import datetime as dt
import json

import pytest
from django.urls import reverse
from django.utils import timezone

from clinic.tests.factories import PatientFactory
from messaging.models import Message
from messaging.services import clinic_sms_number
from offers.models import Offer
from offers.tests.factories import OfferFactory

pytestmark = pytest.mark.django_db


def test_a_simulated_reply_goes_through_the_inbound_sms_path(client, front_desk_user):
    patient = PatientFactory(phone="+13125550160")
    client.force_login(front_desk_user)
    response = client.post(reverse("portal:simulator"),
                           {"phone": "(312) 555-0160", "quick": "HELP"})
    assert response.status_code == 200
    inbound = Message.objects.get(direction=Message.Direction.IN)
    assert inbound.patient == patient
    assert inbound.body == "HELP"
    assert inbound.twilio_sid.startswith("SIM")
    reply = Message.objects.get(direction=Message.Direction.OUT)
    assert reply.kind == "help"
    # The same clinic number as the offers the engine sends, so the thread is one line.
    assert inbound.to_number == reply.from_number == clinic_sms_number()
    assert reply.body in response.content.decode()


def test_stop_in_the_simulator_opts_the_patient_out(client, front_desk_user):
    patient = PatientFactory(phone="+13125550161")
    client.force_login(front_desk_user)
    client.post(reverse("portal:simulator"), {"phone": patient.phone, "body": "stop"})
    patient.refresh_from_db()
    assert patient.sms_opted_out
    page = client.get(reverse("portal:patient", args=[patient.pk])).content.decode()
    assert "Opted out" in page


def test_the_simulator_refuses_a_number_that_is_not_one(client, front_desk_user):
    client.force_login(front_desk_user)
    response = client.post(reverse("portal:simulator"), {"phone": "hello", "body": "YES"})
    assert "not a phone number" in response.content.decode()
    assert not Message.objects.exists()


def test_the_simulator_cannot_be_posted_to_with_the_twilio_backend(client, front_desk_user,
                                                                   settings):
    settings.SMS_BACKEND = "twilio"
    client.force_login(front_desk_user)
    response = client.post(reverse("portal:simulator"), {"phone": "+13125550161", "body": "YES"})
    assert response.status_code == 404
    assert not Message.objects.exists()


def test_a_yes_in_the_simulator_takes_the_winner_off_the_holders_list(client, front_desk_user):
    offer = OfferFactory(status=Offer.Status.SENT, sent_at=timezone.now(),
                         hold_until=timezone.now() + dt.timedelta(minutes=7))
    name = str(offer.patient)
    client.force_login(front_desk_user)
    holders = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "holders"}
    before = client.get(reverse("portal:simulator"), **holders).content.decode()
    assert 'id="holders"' in before
    page = client.get(reverse("portal:simulator")).content.decode()
    # No template source leaks into the page (a {# #} comment is one line only).
    assert "{#" not in page
    assert "{%" not in page
    assert name in before

    answer = client.post(reverse("portal:simulator"), {"phone": offer.patient.phone,
                                                       "quick": "YES"},
                         HTTP_HX_REQUEST="true", HTTP_HX_TARGET="phone")
    # The phone's answer tells the holders list to reload, and the list no longer has them.
    assert set(json.loads(answer["HX-Trigger"])) == {"simulatorReplied"}
    after = client.get(reverse("portal:simulator"), **holders).content.decode()
    assert name not in after
    assert "Nobody holds an offer right now" in after


def _claim_rows(patient):
    from portal.audit import audit_trail_for_patient

    return [row for row in audit_trail_for_patient(patient)
            if row.what.startswith("Offer (") and row.action == "changed"
            and any(change.new == "Accepted" for change in row.changes)]


def test_a_yes_from_the_simulator_is_audited_as_the_patients_like_the_webhooks(
        client, front_desk_user, settings):
    from messaging.tests.twilio_fakes import AUTH_TOKEN, PUBLIC_BASE_URL, twilio_post

    settings.TWILIO_AUTH_TOKEN, settings.PUBLIC_BASE_URL = AUTH_TOKEN, PUBLIC_BASE_URL
    by_simulator = OfferFactory(status=Offer.Status.SENT, entry__patient__first_name="Ana",
                                hold_until=timezone.now() + dt.timedelta(minutes=7))
    by_webhook = OfferFactory(status=Offer.Status.SENT, entry__patient__first_name="Ben",
                              hold_until=timezone.now() + dt.timedelta(minutes=7))
    client.force_login(front_desk_user)

    client.post(reverse("portal:simulator"), {"phone": by_simulator.patient.phone,
                                              "quick": "YES"})
    client.logout()
    twilio_post(client, "/twilio/sms/", {"From": by_webhook.patient.phone,
                                         "To": clinic_sms_number(), "Body": "YES",
                                         "MessageSid": "SM" + "1" * 32})

    for offer in (by_simulator, by_webhook):
        offer.refresh_from_db()
        assert offer.status == Offer.Status.ACCEPTED
    # Not the front-desk user who typed it: nobody on staff accepted anything.
    simulated = by_simulator.history.filter(status=Offer.Status.ACCEPTED).get()
    assert simulated.history_user is None
    assert simulated.history_change_reason.startswith(
        f"[patient by SMS (simulated): +1******{by_simulator.patient.phone[-4:]}]")
    [row] = _claim_rows(by_simulator.patient)
    assert row.who == f"{by_simulator.patient} (patient), by SMS (simulated)"
    [row] = _claim_rows(by_webhook.patient)
    assert row.who == f"{by_webhook.patient} (patient), by SMS"
    # The slot's booking and the entry's too: every row of the claim is the patient's.
    from portal.audit import audit_trail_for_patient

    whos = {row.who for row in audit_trail_for_patient(by_simulator.patient)
            if row.when >= simulated.history_date}
    assert whos == {f"{by_simulator.patient} (patient), by SMS (simulated)"}
    assert "frontdesk" not in str(audit_trail_for_patient(by_simulator.patient))


def test_the_simulator_leaves_the_staff_users_own_later_changes_theirs(
        client, front_desk_user):
    """acting_as hides the signed-in user only for the simulated reply itself."""
    from simple_history.models import HistoricalRecords

    from clinic.audit import acting_as, actor_patient_sms

    patient = PatientFactory()
    request = type("Request", (), {"user": front_desk_user})()
    HistoricalRecords.context.request = request
    try:
        with acting_as(actor_patient_sms(patient, simulated=True)):
            patient.first_name = "Anna"
            patient.save()
        assert HistoricalRecords.context.request is request
        patient.first_name = "Ana"
        patient.save()
    finally:
        del HistoricalRecords.context.request
    by_patient, by_staff = patient.history.order_by("history_id")[1:]
    assert by_patient.history_user is None
    assert by_staff.history_user == front_desk_user


@pytest.mark.django_db(transaction=True)  # the offer ends after the reply's commit
def test_a_wrong_number_from_the_simulator_is_audited_as_the_patients_not_the_staff_users(
        client, front_desk_user):
    """Issue 12's wrong-number flow through issue 13's simulator: the phone's flag and
    the offer it ends are the patient's doing, by SMS (simulated)."""
    from portal.audit import audit_trail_for_patient

    offer = OfferFactory(status=Offer.Status.SENT, entry__patient__first_name="Ana",
                         hold_until=timezone.now() + dt.timedelta(minutes=7))
    client.force_login(front_desk_user)
    client.post(reverse("portal:simulator"), {"phone": offer.patient.phone,
                                              "body": "wrong number, no Ana here"})

    offer.refresh_from_db()
    offer.patient.refresh_from_db()
    assert offer.patient.phone_wrong_at is not None
    assert offer.status == Offer.Status.FAILED
    trail = audit_trail_for_patient(offer.patient)
    rows = [row for row in trail if row.action == "changed"]
    assert {row.what.split(" (")[0] for row in rows} >= {"Patient", "Offer"}
    assert {row.who for row in rows} == {f"{offer.patient} (patient), by SMS (simulated)"}
    assert "frontdesk" not in str(trail)

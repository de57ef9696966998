"""Hostile and random input: signed random form data to both Twilio webhooks, random
JSON to the FHIR API. Never a 500; a refusal changes nothing; an acceptance writes a
whole record, not part of one."""

import datetime as dt
import json

import pytest
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clinic.models import Patient
from clinic.tests.factories import PatientFactory, ProviderFactory
from ehr.models import ApiKey
from messaging.models import Message
from messaging.tests.twilio_fakes import FROM_NUMBER, twilio_post
from offers.models import Offer, Slot
from offers.tests.factories import SlotFactory
from waitlist.models import WaitlistEntry
from waitlist.tests.factories import WaitlistEntryFactory

pytestmark = pytest.mark.django_db

FUZZ = settings(max_examples=75, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count()
            for model in (Patient, WaitlistEntry, Slot, Offer, Message)}


def grew(before: dict, after: dict) -> dict[str, int]:
    return {name: after[name] - before[name] for name in before if after[name] != before[name]}


text = st.text(max_size=200)
phoneish = st.one_of(text, st.from_regex(r"\+1312555\d{4}", fullmatch=True),
                     st.sampled_from(["+13125550142", "", "+1", "0" * 30]))
bodies = st.one_of(text, st.sampled_from(["YES", "yes!", "NO", "STOP", "START", "HELP",
                                          "Sí", "y", "\x00", "YES" * 600]))


@pytest.fixture
def known_patient_with_offer():
    patient = PatientFactory(phone="+13125550142")
    slot = SlotFactory(provider=ProviderFactory())
    entry = WaitlistEntryFactory(patient=patient)
    Offer.objects.create(slot=slot, entry=entry, patient=patient, batch=1, status="sent",
                         sent_at=timezone.now(),
                         hold_until=timezone.now() + dt.timedelta(minutes=7))
    return patient


@FUZZ
@given(params=st.fixed_dictionaries(
    {}, optional={"From": phoneish, "To": st.one_of(phoneish, st.just(FROM_NUMBER)),
                  "Body": bodies, "MessageSid": st.one_of(text, st.from_regex(
                      r"SM[0-9a-f]{32}", fullmatch=True)),
                  "NumMedia": text, "AccountSid": text}))
def test_random_signed_inbound_sms_never_errors_and_writes_whole_records(
        fake_twilio, known_patient_with_offer, params):
    before = counts()
    response = twilio_post(Client(), "/twilio/sms/", params)
    assert response.status_code in (200, 400), response.content[:300]
    change = grew(before, counts())
    if response.status_code == 400:
        assert change == {}
    else:
        assert response["Content-Type"].startswith("text/xml")
        # One inbound message logged (none for a repeated sid), plus at most the answers.
        assert change.get("Message", 0) in (0, 1, 2, 3)
        assert not {"Patient", "Slot", "WaitlistEntry", "Offer"} & change.keys()
        accepted = Offer.objects.filter(status="accepted")
        for offer in accepted:
            assert offer.slot.status == Slot.Status.FILLED
            assert offer.slot.filled_entry_id == offer.entry_id
            assert offer.entry.status == WaitlistEntry.Status.BOOKED


@FUZZ
@given(params=st.fixed_dictionaries(
    {}, optional={"MessageSid": st.one_of(text, st.just("SMknown")),
                  "MessageStatus": st.one_of(text, st.sampled_from(
                      ["delivered", "failed", "undelivered", "sent", "queued", "read"])),
                  "ErrorCode": st.one_of(text, st.sampled_from(["21610", "21211", "30003"]))}))
def test_random_signed_status_callbacks_never_error(fake_twilio, params):
    message, _ = Message.objects.get_or_create(
        twilio_sid="SMknown", defaults={"direction": "out", "from_number": FROM_NUMBER,
                                        "to_number": "+13125550199", "status": "sent",
                                        "kind": "help"})
    before = counts()
    response = twilio_post(Client(), "/twilio/status/", params)
    assert response.status_code in (200, 204, 400), response.content[:300]
    assert grew(before, counts()).keys() <= {"Patient"}  # nothing is created
    if response.status_code == 400:
        assert Message.objects.get(pk=message.pk).status == message.status


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children,
                                                                      max_size=4),
    max_leaves=20,
)
instants = st.one_of(text, st.datetimes(min_value=dt.datetime(2000, 1, 1),
                                        max_value=dt.datetime(2100, 1, 1)).map(
    lambda d: d.isoformat() + "Z"))
appointment_like = st.fixed_dictionaries(
    {"resourceType": st.sampled_from(["Appointment", "Patient", ""])},
    optional={
        "status": st.sampled_from(["waitlist", "cancelled", "booked", "proposed", ""]),
        "start": instants, "end": instants,
        "priority": st.one_of(st.integers(), text),
        "comment": text,
        "contained": st.lists(json_values, max_size=2),
        "participant": st.lists(json_values, max_size=3),
        "requestedPeriod": st.lists(st.fixed_dictionaries({}, optional={
            "start": instants, "end": instants}), max_size=2),
        "identifier": json_values,
        "appointmentType": json_values,
    },
)


@pytest.fixture
def api_client():
    _, raw_key = ApiKey.issue(name="fuzz")
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw_key}")


@FUZZ
@given(payload=st.one_of(json_values, appointment_like),
       content_type=st.sampled_from(["application/fhir+json", "application/json"]))
def test_random_json_to_the_fhir_api_never_errors_and_writes_whole_records(api_client,
                                                                          payload,
                                                                          content_type):
    before = counts()
    response = api_client.post("/api/fhir/Appointment", json.dumps(payload),
                               content_type=content_type)
    assert response.status_code < 500, response.content[:300]
    change = grew(before, counts())
    if response.status_code >= 400:
        assert change == {}, change
        body = response.json()
        assert body["resourceType"] == "OperationOutcome"
        assert body["issue"][0]["diagnostics"]
    else:
        assert response.status_code in (200, 201)
        assert change.get("WaitlistEntry", 0) + change.get("Slot", 0) <= 1


@FUZZ
@given(raw=st.binary(max_size=300))
def test_bytes_that_are_not_json_get_a_clear_400(api_client, raw):
    before = counts()
    response = api_client.post("/api/fhir/Appointment", raw,
                               content_type="application/fhir+json")
    assert 400 <= response.status_code < 500 or response.status_code in (200, 201)
    if response.status_code >= 400:
        assert counts() == before

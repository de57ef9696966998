"""Every refused request answers a FHIR OperationOutcome that names the problem, and
changes nothing."""

import datetime as dt
import json

import pytest
from django.utils import timezone

from clinic.tests.factories import AppointmentTypeFactory
from ehr.fhir import MAX_BODY_BYTES
from ehr.tests.payloads import (
    URL,
    cancelled_appointment,
    database_state,
    post,
    waitlist_appointment,
    with_changes,
)

pytestmark = pytest.mark.django_db


def refused(client, key, body, *, status, names, content_type="application/fhir+json"):
    before = database_state()
    response = post(client, key, body, content_type=content_type)
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/fhir+json"
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["severity"] == "error"
    assert names in outcome["issue"][0]["diagnostics"]
    assert database_state() == before
    return outcome


def test_a_body_that_is_not_json_is_400(client, key):
    refused(client, key, "status=waitlist&patient=ana", status=400, names="not JSON",
            content_type="application/json")


@pytest.mark.parametrize("content_type", [
    "application/x-www-form-urlencoded", "text/plain", "application/xml",
    "application/fhir+xml", "",
])
def test_a_body_that_is_not_declared_as_json_is_415(client, key, content_type):
    outcome = refused(client, key, json.dumps(waitlist_appointment()), status=415,
                      names="application/fhir+json or application/json",
                      content_type=content_type)
    assert outcome["issue"][0]["code"] == "not-supported"


@pytest.mark.parametrize("content_type", [
    "application/fhir+json; charset=utf-8", "application/json", "Application/JSON",
])
def test_json_content_types_are_accepted(client, key, content_type):
    response = post(client, key, waitlist_appointment(), content_type=content_type)
    assert response.status_code == 201


def test_truncated_json_is_400(client, key):
    refused(client, key, json.dumps(waitlist_appointment())[:-20], status=400, names="not JSON")


def test_nan_is_not_json(client, key):
    refused(client, key, '{"resourceType": "Appointment", "priority": NaN}', status=400,
            names="not JSON")


def test_a_wrong_resource_type_is_422(client, key):
    patient = waitlist_appointment()["contained"][0]
    refused(client, key, patient, status=422, names="resourceType")


def test_a_json_array_is_422(client, key):
    refused(client, key, [waitlist_appointment()], status=422, names="resourceType")


def test_an_unknown_element_is_rejected_by_fhir(client, key):
    body = with_changes(waitlist_appointment(), lambda r: r.update(patientPhone="+13125550142"))
    outcome = refused(client, key, body, status=422, names="Appointment.patientPhone")
    assert outcome["issue"][0]["expression"] == ["Appointment.patientPhone"]


def test_a_participant_without_status_is_rejected_by_fhir(client, key):
    body = with_changes(waitlist_appointment(), lambda r: r["participant"][1].pop("status"))
    refused(client, key, body, status=422, names="Appointment.participant[1].status")


def test_a_status_other_than_waitlist_or_cancelled_is_422(client, key):
    body = with_changes(waitlist_appointment(), lambda r: r.update(status="booked"))
    refused(client, key, body, status=422, names="Appointment.status")


def test_an_invalid_phone_is_422_naming_the_telecom(client, key):
    refused(client, key, waitlist_appointment(phone="(312) 555-01"), status=422,
            names="Appointment.contained[0].telecom[0].value")


def test_a_patient_without_a_phone_is_422(client, key):
    body = with_changes(waitlist_appointment(), lambda r: r["contained"][0].pop("telecom"))
    refused(client, key, body, status=422, names="Appointment.contained[0].telecom")


def test_a_patient_without_a_name_is_422(client, key):
    body = with_changes(waitlist_appointment(), lambda r: r["contained"][0].pop("name"))
    refused(client, key, body, status=422, names="Appointment.contained[0].name")


def test_a_waitlist_request_without_a_contained_patient_is_422(client, key):
    body = with_changes(waitlist_appointment(), lambda r: r.pop("contained"))
    refused(client, key, body, status=422, names="Appointment.participant[0].actor.reference")


def test_a_requested_period_ending_before_it_starts_is_422(client, key):
    refused(client, key, waitlist_appointment(requested=("2030-03-01", "2030-02-01")),
            status=422, names="Appointment.requestedPeriod[0].end")


def test_a_requested_period_in_the_past_is_422(client, key):
    refused(client, key, waitlist_appointment(requested=("2020-03-01", "2020-04-01")),
            status=422, names="Appointment.requestedPeriod")


def test_an_unknown_appointment_type_is_422(client, key):
    AppointmentTypeFactory(code="follow-up")
    outcome = refused(client, key, waitlist_appointment(type_code="MRI-KNEE"), status=422,
                      names="Appointment.appointmentType")
    assert "follow-up" in outcome["issue"][0]["diagnostics"]


def test_a_new_provider_without_a_display_name_is_422(client, key):
    body = with_changes(waitlist_appointment(),
                        lambda r: r["participant"][1]["actor"].pop("display"))
    refused(client, key, body, status=422, names="Appointment.participant[1].actor.display")


def test_a_cancelled_slot_in_the_past_is_422(client, key):
    start = (timezone.now() - dt.timedelta(hours=2)).replace(microsecond=0)
    refused(client, key, cancelled_appointment(start=start), status=422,
            names="Appointment.start")


def test_a_cancelled_slot_ending_before_it_starts_is_422(client, key):
    refused(client, key, cancelled_appointment(minutes=-20), status=422, names="Appointment.end")


def test_a_cancelled_slot_without_end_is_422(client, key):
    body = with_changes(cancelled_appointment(), lambda r: r.pop("end"))
    refused(client, key, body, status=422, names="Appointment.end")


def test_a_start_without_time_zone_is_rejected_by_fhir(client, key):
    body = with_changes(cancelled_appointment(),
                        lambda r: r.update(start="2030-01-02T10:00:00", end="2030-01-02T10:20:00"))
    refused(client, key, body, status=422, names="Appointment.start")


def test_a_cancelled_slot_without_provider_is_422(client, key):
    body = with_changes(cancelled_appointment(), lambda r: r["participant"][0].pop("actor"))
    refused(client, key, body, status=422, names="Appointment.participant")


# --- hostile payloads ---------------------------------------------------------------

def test_a_body_over_the_size_limit_is_413(client, key):
    body = waitlist_appointment(comment="x" * (MAX_BODY_BYTES + 10))
    refused(client, key, body, status=413, names="larger than")


def test_a_huge_string_is_422_naming_the_field(client, key):
    body = with_changes(waitlist_appointment(),
                        lambda r: r["contained"][0]["name"][0].update(given=["A" * 5000]))
    refused(client, key, body, status=422, names="Appointment.contained[0].name[0].given[0]")
    refused(client, key, waitlist_appointment(comment="x" * 5000), status=422,
            names="Appointment.comment")


def test_a_long_name_that_does_not_fit_is_422(client, key):
    refused(client, key, waitlist_appointment(family="B" * 200), status=422,
            names="Appointment.contained[0].name.family")


def test_deeply_nested_garbage_is_refused(client, key):
    garbage = {"url": "http://example.org/x", "extension": []}
    node = garbage
    for _ in range(40):
        child = {"url": "http://example.org/x", "extension": []}
        node["extension"].append(child)
        node = child
    body = with_changes(waitlist_appointment(), lambda r: r.update(extension=[garbage]))
    refused(client, key, body, status=422, names="nested more than")


def test_json_nested_past_the_parser_limit_is_400(client, key):
    refused(client, key, "[" * 30000 + "]" * 30000, status=400, names="nested too deeply")


def test_a_nul_character_is_422(client, key):
    refused(client, key, waitlist_appointment(given="Ana\u0000"), status=422,
            names="NUL")


def test_a_lone_surrogate_is_422(client, key):
    body = json.dumps(waitlist_appointment()).replace('"Ana"', '"An\\ud800a"')
    refused(client, key, body, status=422, names="not valid Unicode")


def test_a_huge_number_is_refused(client, key):
    body = json.dumps(waitlist_appointment()).replace('"status": "waitlist"',
                                                      '"status": "waitlist", "priority": '
                                                      + "9" * 5000)
    refused(client, key, body, status=400, names="not JSON")


def test_a_negative_priority_is_rejected_by_fhir(client, key):
    refused(client, key, waitlist_appointment(priority=-1), status=422,
            names="Appointment.priority")


def test_garbage_types_are_rejected_by_fhir(client, key):
    body = with_changes(waitlist_appointment(), lambda r: r.update(participant={"a": [1, 2]}))
    refused(client, key, body, status=422, names="Appointment.participant")


SOON = timezone.now().year + 1
PROVIDER = {"status": "accepted", "actor": {"identifier": {"value": "1"}, "display": "Dr. X"}}


@pytest.mark.parametrize(("body", "names"), [
    ({"resourceType": "Appointment", "status": "waitlist", "participant": [PROVIDER],
      "contained": [{"resourceType": "NoSuchResource"}]}, "Appointment"),
    ({"resourceType": "Appointment", "status": "waitlist", "participant": [PROVIDER],
      "contained": [{"resourceType": None}]}, "Appointment"),
    ({"resourceType": "Appointment", "status": "waitlist", "participant": [PROVIDER],
      "contained": ["x"]}, "Appointment.contained[0]"),
    ({"resourceType": "Appointment", "status": "waitlist",
      "participant": [{"actor": {"reference": "#p"}, "status": "accepted"}],
      "contained": [{"resourceType": "Practitioner", "id": "p"}]},
     "Appointment.participant[0].actor.reference"),
    ({"resourceType": "Appointment"}, "Appointment.participant"),
    ({"resourceType": "Appointment", "status": 5, "participant": [PROVIDER]},
     "Appointment.status"),
    ({"resourceType": "Appointment", "status": "cancelled", "participant": [PROVIDER],
      "start": "9999-12-31T23:00:00Z", "end": "9999-12-31T23:20:00Z"}, "Appointment.start"),
    ({"resourceType": "Appointment", "status": "cancelled", "participant": [PROVIDER],
      "start": f"{SOON}-01-01T10:00:00+14:00", "end": f"{SOON}-01-02T10:20:00-12:00"},
     "Appointment.end"),
    ({"resourceType": "Appointment", "status": "cancelled", "participant": [PROVIDER, PROVIDER],
      "start": f"{SOON}-01-01T10:00:00Z", "end": f"{SOON}-01-01T10:20:00Z"},
     "Appointment.participant"),
])
def test_odd_shapes_are_422(client, key, body, names):
    refused(client, key, body, status=422, names=names)


def test_other_methods_are_405_with_allow(client, key):
    before = database_state()
    for method in (client.put, client.patch, client.delete):
        response = method(URL, "{}", content_type="application/fhir+json",
                          headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 405
        assert response["Allow"] == "GET, POST"
        assert response.json()["resourceType"] == "OperationOutcome"
    response = client.post(f"{URL}/waitlist-1", "{}", content_type="application/fhir+json",
                           headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 405
    assert database_state() == before


def test_an_unknown_id_is_404(client, key):
    for resource_id in ("waitlist-999", "slot-999", "12", "slot-1e3", "waitlist-" + "9" * 40):
        response = client.get(f"{URL}/{resource_id}", headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 404
        assert response.json()["issue"][0]["code"] == "not-found"


def test_other_resource_types_are_404(client, key):
    response = client.get("/api/fhir/Patient", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"


def _at_clinic(hour: int) -> str:
    return timezone.make_aware(dt.datetime(SOON, 1, 10, hour)).isoformat()


@pytest.mark.parametrize(("start", "says"), [
    (f"{SOON}-01-10T10:00:00", f"'{SOON}-01-10T10:00:00' has no time zone; a FHIR instant "
     f"needs one, an offset or Z, e.g. '{_at_clinic(10)}' for that time at the clinic"),
    (f"{SOON}-01-10", f"'{SOON}-01-10' is a date; a FHIR instant needs a time and a time "
     f"zone, e.g. '{_at_clinic(0)}'"),
    (f"{SOON}-01-10T10:00-06:00", "which gives the seconds too: "
     f"e.g. '{SOON}-01-10T10:00:00-06:00'"),
    ("tomorrow at ten", "'tomorrow at ten' is not a FHIR instant: give a date, a time and a "
     "time zone"),
])
def test_a_start_without_a_time_zone_is_told_what_is_expected(client, key, start, says):
    body = {"resourceType": "Appointment", "status": "cancelled", "participant": [PROVIDER],
            "start": start, "end": f"{SOON}-01-10T16:20:00Z"}
    outcome = refused(client, key, body, status=422, names="Appointment.start")
    diagnostics = outcome["issue"][0]["diagnostics"]
    assert says in diagnostics
    assert "spec regex" not in diagnostics

"""Real FHIR R4 Appointment JSON, as an EHR would send it, and helpers to post it."""

import copy
import datetime as dt
import json

from django.utils import timezone

from clinic.models import AppointmentType, Patient, Provider
from messaging.models import Message
from offers.models import Offer, Slot
from waitlist.models import WaitlistEntry

URL = "/api/fhir/Appointment"
NPI = "http://hl7.org/fhir/sid/us-npi"
EHR_IDS = "urn:oid:1.2.840.114350.1.13.0.1.7.2.798268"


def waitlist_appointment(*, phone="(312) 555-0142", given="Ana", family="Ruiz",
                         language="es", npi="1234567893", provider="Dr. Maria Chen",
                         identifier="WL-1001", priority=None, type_code=None,
                         requested=("2030-01-02", "2030-03-31"), comment=None) -> dict:
    resource = {
        "resourceType": "Appointment",
        "status": "waitlist",
        "contained": [{
            "resourceType": "Patient",
            "id": "pat",
            "name": [{"use": "official", "family": family, "given": [given]}],
            "telecom": [{"system": "sms", "value": phone, "use": "mobile"}],
            "communication": [{"language": {"coding": [
                {"system": "urn:ietf:bcp:47", "code": language}]}, "preferred": True}],
        }],
        "participant": [
            {"actor": {"reference": "#pat", "display": f"{given} {family}"},
             "status": "needs-action"},
        ],
    }
    if npi:
        resource["participant"].append({
            "actor": {"identifier": {"system": NPI, "value": npi}, "display": provider},
            "status": "accepted"})
    if identifier:
        resource["identifier"] = [{"system": EHR_IDS, "value": identifier}]
    if priority is not None:
        resource["priority"] = priority
    if type_code:
        resource["appointmentType"] = {"coding": [
            {"system": "http://terminology.hl7.org/CodeSystem/v2-0276", "code": type_code}]}
    if requested:
        resource["requestedPeriod"] = [{"start": requested[0], "end": requested[1]}]
    if comment:
        resource["comment"] = comment
    return resource


def cancelled_appointment(*, start=None, minutes=20, npi="1234567893",
                          provider="Dr. Maria Chen", identifier="APT-2001",
                          type_code=None) -> dict:
    start = start or (timezone.now() + dt.timedelta(days=2)).replace(microsecond=0)
    resource = {
        "resourceType": "Appointment",
        "status": "cancelled",
        "start": start.isoformat(),
        "end": (start + dt.timedelta(minutes=minutes)).isoformat(),
        "participant": [{
            "actor": {"identifier": {"system": NPI, "value": npi}, "display": provider},
            "status": "accepted"}],
    }
    if identifier:
        resource["identifier"] = [{"system": EHR_IDS, "value": identifier}]
    if type_code:
        resource["appointmentType"] = {"coding": [{"code": type_code}]}
    return resource


def post(client, key, resource, *, content_type="application/fhir+json"):
    body = resource if isinstance(resource, str | bytes) else json.dumps(resource)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return client.post(URL, body, content_type=content_type, headers=headers)


def get(client, key, path=URL, **params):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return client.get(path, params, headers=headers)


def with_changes(resource: dict, change) -> dict:
    resource = copy.deepcopy(resource)
    change(resource)
    return resource


def database_state() -> dict:
    """Everything an API call could write, to check that a refused one wrote nothing."""
    state = {}
    for model in (Patient, Provider, AppointmentType, WaitlistEntry, Slot, Offer, Message):
        rows = model.objects.order_by("pk")
        state[model.__name__] = [json.dumps(row, default=str, sort_keys=True)
                                 for row in rows.values()]
        if hasattr(model, "history"):
            state[f"{model.__name__}.history"] = model.history.count()
    return state

"""The FHIR R4 Appointment API for EHRs (see README "EHR integration").

Every answer is application/fhir+json; every error an OperationOutcome.
"""

import datetime as dt
import functools
import json

from django.core.exceptions import RequestDataTooBig
from django.core.paginator import EmptyPage, Paginator
from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.http import urlencode
from django.views.decorators.csrf import csrf_exempt

from clinic.audit import actor_api_key
from ehr import fhir, resources, selectors, services
from ehr.fhir import FhirError
from ehr.models import ApiKey
from offers.models import Slot
from waitlist.models import WaitlistEntry

CONTENT_TYPE = "application/fhir+json"
# What a POST may declare (parameters such as charset aside).
BODY_CONTENT_TYPES = ("application/fhir+json", "application/json")
DEFAULT_COUNT = 20
MAX_COUNT = 100


def fhir_response(data: dict, *, status: int = 200, headers=None) -> HttpResponse:
    return HttpResponse(json.dumps(data), status=status, content_type=CONTENT_TYPE,
                        headers=headers)


def outcome_response(error: FhirError, *, headers=None) -> HttpResponse:
    issue = {"severity": "error", "code": error.code, "diagnostics": error.diagnostics}
    if error.expression:
        issue["expression"] = [error.expression]
    return fhir_response({"resourceType": "OperationOutcome", "issue": [issue]},
                         status=error.status, headers=headers)


def fhir_api(*methods):
    """Bearer key first, then the method; FhirErrors become OperationOutcomes."""

    def decorator(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            api_key = _authenticate(request)
            if api_key is None:
                return outcome_response(
                    FhirError(401, "Send a valid API key: Authorization: Bearer <key>",
                              code="login"),
                    headers={"WWW-Authenticate": 'Bearer realm="fhir"'})
            # The audit trail names the key as the actor of what this request changes.
            request.api_key = api_key
            if request.method not in methods:
                return outcome_response(
                    FhirError(405, f"{request.method} is not supported here; "
                              f"use {' or '.join(methods)}", code="not-supported"),
                    headers={"Allow": ", ".join(methods)})
            try:
                return view(request, *args, api_key=api_key, **kwargs)
            except FhirError as error:
                return outcome_response(error)

        return csrf_exempt(wrapper)

    return decorator


def _authenticate(request) -> ApiKey | None:
    scheme, _, raw_key = request.headers.get("Authorization", "").partition(" ")
    raw_key = raw_key.strip()
    if scheme.lower() != "bearer" or not raw_key or len(raw_key) > 200:
        return None
    return ApiKey.authenticate(raw_key)


@fhir_api("GET", "POST")
def appointments(request, *, api_key):
    if request.method == "GET":
        return _search_booked(request)
    if request.content_type not in BODY_CONTENT_TYPES:
        raise FhirError(415, f"Send the body as {' or '.join(BODY_CONTENT_TYPES)}, not "
                        f"{request.content_type[:60]!r}", code="not-supported")
    appointment = fhir.appointment_parse(fhir.json_load(_body(request)))
    if appointment.status == "waitlist":
        wanted = fhir.waitlist_request_from(appointment)
        entry, created = services.appointment_waitlist_save(
            request=wanted, actor=actor_api_key(api_key.name))
        resource = resources.entry_resource(entry)
    elif appointment.status == "cancelled":
        cancelled = fhir.cancelled_appointment_from(appointment)
        slot, created = services.appointment_cancelled_save(
            request=cancelled, actor=actor_api_key(api_key.name))
        resource = resources.slot_resource(slot)
    else:
        raise fhir.invalid("Appointment.status",
                           f"only 'waitlist' and 'cancelled' can be posted, not "
                           f"{str(appointment.status)[:40]!r}")
    location = request.build_absolute_uri(reverse("ehr:appointment", args=[resource["id"]]))
    return fhir_response(resource, status=201 if created else 200,
                         headers={"Location": location})


@fhir_api("GET")
def appointment_detail(request, resource_id, *, api_key):
    parsed = resources.resource_id_parse(resource_id)
    if parsed is not None:
        kind, pk = parsed
        if kind == "waitlist":
            entry = WaitlistEntry.objects.filter(pk=pk).select_related(
                "patient", "appointment_type").first()
            if entry is not None:
                return fhir_response(resources.entry_resource(entry))
        else:
            slot = Slot.objects.filter(pk=pk).select_related(
                "provider", "appointment_type", "filled_entry__patient").first()
            if slot is not None:
                return fhir_response(resources.slot_resource(slot))
    raise FhirError(404, f"No Appointment with id {resource_id[:60]!r} (ids look like "
                    "'waitlist-12' or 'slot-34')", code="not-found")


@fhir_api("GET", "POST", "PUT", "PATCH", "DELETE")
def not_found(request, *, api_key):
    raise FhirError(404, "Only /api/fhir/Appointment is served here", code="not-found")


def _body(request) -> bytes:
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise FhirError(400, "Content-Length is not a number", code="structure") from None
    too_big = FhirError(413, f"The body is larger than {fhir.MAX_BODY_BYTES} bytes",
                        code="too-costly")
    if declared > fhir.MAX_BODY_BYTES:
        raise too_big
    try:
        body = request.read(fhir.MAX_BODY_BYTES + 1)
    except RequestDataTooBig:
        raise too_big from None
    if len(body) > fhir.MAX_BODY_BYTES:
        raise too_big
    return body


def _search_booked(request):
    params = request.GET
    if params.get("status") != "booked":
        raise FhirError(400, "Search with status=booked (the slots filled through the system)",
                        code="not-supported", expression="status")
    updated_after = _last_updated(params.get("_lastUpdated"))
    count = _positive_int(params.get("_count"), "_count", DEFAULT_COUNT, maximum=MAX_COUNT)
    page_number = _positive_int(params.get("page"), "page", 1, maximum=10**6)
    paginator = Paginator(selectors.slots_booked(updated_after=updated_after), count)
    try:
        slots = list(paginator.page(page_number).object_list)
    except EmptyPage:
        slots = []

    def page_url(number):
        query = {"status": "booked", "_count": count, "page": number}
        if params.get("_lastUpdated"):
            query["_lastUpdated"] = params["_lastUpdated"]
        return request.build_absolute_uri(f"{request.path}?{urlencode(query)}")

    links = [{"relation": "self", "url": page_url(page_number)}]
    if page_number < paginator.num_pages:
        links.append({"relation": "next", "url": page_url(page_number + 1)})
    if 1 < page_number <= paginator.num_pages:
        links.append({"relation": "previous", "url": page_url(page_number - 1)})
    entries = []
    for slot in slots:
        resource = resources.slot_resource(slot)
        entries.append({
            "fullUrl": request.build_absolute_uri(reverse("ehr:appointment",
                                                          args=[resource["id"]])),
            "resource": resource,
            "search": {"mode": "match"},
        })
    return fhir_response({"resourceType": "Bundle", "type": "searchset",
                          "total": paginator.count, "link": links, "entry": entries})


def _last_updated(value: str | None):
    if not value:
        return None
    if not value.startswith("gt"):
        raise FhirError(400, "_lastUpdated supports the prefix gt only, e.g. "
                        "_lastUpdated=gt2025-01-31T12:00:00Z", code="not-supported",
                        expression="_lastUpdated")
    text = value[2:].strip().replace(" ", "+")  # a "+" in an unencoded query becomes a space
    try:
        # parse_datetime would also read a bare date, as its midnight: try dates first.
        day = parse_date(text) if len(text) == len("2025-01-31") else None
        moment = None if day else parse_datetime(text)
    except ValueError:
        moment = day = None
    if day is not None:
        # FHIR: gt on a date means after the whole day, not after its first instant.
        moment = dt.datetime.combine(day, dt.time.max)
    if moment is None:
        raise FhirError(400, f"_lastUpdated: {text[:40]!r} is not a FHIR instant",
                        code="invalid", expression="_lastUpdated")
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def _positive_int(value: str | None, name: str, default: int, *, maximum: int) -> int:
    if value is None or value == "":
        return default
    if not (value.isascii() and value.isdigit() and len(value) <= 7) or not (
            1 <= int(value) <= maximum):
        raise FhirError(400, f"{name} must be a whole number from 1 to {maximum}",
                        code="invalid", expression=name)
    return int(value)

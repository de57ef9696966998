"""The FHIR R4 Appointment API for EHRs (see README "EHR integration").

Every answer is application/fhir+json; every error an OperationOutcome.
"""

import datetime as dt
import functools
import json
from dataclasses import dataclass

from django.core.exceptions import RequestDataTooBig
from django.core.paginator import EmptyPage, Paginator
from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.http import urlencode
from django.views.decorators.csrf import csrf_exempt

from clinic.audit import acting_as, actor_api_key
from ehr import fhir, resources, selectors, services, smart
from ehr.fhir import FhirError
from ehr.models import SMART_TOKEN_PREFIX, ApiKey
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


@dataclass(frozen=True)
class Caller:
    """Who sent a FHIR request: an API key (may do everything) or a SMART access token."""

    actor: str  # as the audit trail names it
    permissions: frozenset[str]  # SMART v2 letters (c, r, u, d, s)


ALL_PERMISSIONS = frozenset("cruds")
SCOPE_FOR = {smart.CREATE: "system/Appointment.write", smart.READ: "system/Appointment.read",
             smart.SEARCH: "system/Appointment.read"}


def fhir_api(**needs: str | None):
    """Bearer first (an API key or a SMART access token: 401), then the method (405), then
    the token's scopes (403); FhirErrors become OperationOutcomes. `needs` maps each
    method to the SMART permission it takes, e.g. fhir_api(GET=smart.READ)."""
    methods = list(needs)

    def decorator(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            try:
                caller = _authenticate(request)
            except Unauthenticated as refused:
                return outcome_response(
                    FhirError(401, refused.message, code="login"),
                    headers={"WWW-Authenticate": _challenge(refused.error, refused.message)})
            if request.method not in methods:
                return outcome_response(
                    FhirError(405, f"{request.method} is not supported here; "
                              f"use {' or '.join(methods)}", code="not-supported"),
                    headers={"Allow": ", ".join(methods)})
            needed = needs[request.method]
            if needed is not None and needed not in caller.permissions:
                scope = SCOPE_FOR[needed]
                return outcome_response(
                    FhirError(403, f"The access token's scopes do not allow this request; it "
                              f"needs {scope}", code="forbidden"),
                    headers={"WWW-Authenticate": _challenge("insufficient_scope", "",
                                                            scope=scope)})
            try:
                with acting_as(caller.actor):
                    return view(request, *args, caller=caller, **kwargs)
            except FhirError as error:
                return outcome_response(error)

        return csrf_exempt(wrapper)

    return decorator


def _challenge(error: str | None, description: str, *, scope: str = "") -> str:
    parts = ['Bearer realm="fhir"']
    if error:
        parts.append(f'error="{error}"')
    if description:
        parts.append(f'error_description="{description.replace(chr(34), chr(39))[:200]}"')
    if scope:
        parts.append(f'scope="{scope}"')
    return ", ".join(parts)


class Unauthenticated(Exception):
    def __init__(self, message: str, error: str | None = None):
        super().__init__(message)
        self.message = message
        self.error = error  # RFC 6750's error code, when a token was sent


def _authenticate(request) -> Caller:
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    raw = raw.strip()
    missing = Unauthenticated("Send a valid API key or SMART access token: "
                              "Authorization: Bearer <key or token>")
    if scheme.lower() != "bearer" or not raw or len(raw) > 200:
        raise missing
    if raw.startswith(SMART_TOKEN_PREFIX):
        try:
            token = smart.token_authenticate(raw)
        except smart.TokenRefused as exc:
            raise Unauthenticated(str(exc).capitalize(), "invalid_token") from None
        return Caller(actor=actor_smart_client(token.client.name),
                      permissions=frozenset(smart.scopes_permissions(token.scopes)))
    api_key = ApiKey.authenticate(raw)
    if api_key is None:
        raise missing
    # The audit trail names the key as the actor of what this request changes.
    request.api_key = api_key
    return Caller(actor=actor_api_key(api_key.name), permissions=ALL_PERMISSIONS)


def actor_smart_client(name: str) -> str:
    return f"SMART client: {name}"


@fhir_api(GET=smart.SEARCH, POST=smart.CREATE)
def appointments(request, *, caller: Caller):
    if request.method == "GET":
        return _search(request)
    if request.content_type not in BODY_CONTENT_TYPES:
        raise FhirError(415, f"Send the body as {' or '.join(BODY_CONTENT_TYPES)}, not "
                        f"{request.content_type[:60]!r}", code="not-supported")
    appointment = fhir.appointment_parse(fhir.json_load(_body(request)))
    if appointment.status == "waitlist":
        wanted = fhir.waitlist_request_from(appointment)
        entry, created = services.appointment_waitlist_save(request=wanted,
                                                              actor=caller.actor)
        resource = resources.entry_resource(entry)
    elif appointment.status == "cancelled":
        cancelled = fhir.cancelled_appointment_from(appointment)
        slot, created = services.appointment_cancelled_save(request=cancelled,
                                                              actor=caller.actor)
        resource = resources.slot_resource(slot)
    else:
        raise fhir.invalid("Appointment.status",
                           f"only 'waitlist' and 'cancelled' can be posted, not "
                           f"{str(appointment.status)[:40]!r}")
    location = request.build_absolute_uri(reverse("ehr:appointment", args=[resource["id"]]))
    return fhir_response(resource, status=201 if created else 200,
                         headers={"Location": location})


@fhir_api(GET=smart.READ)
def appointment_detail(request, resource_id, *, caller: Caller):
    parsed = resources.resource_id_parse(resource_id)
    if parsed is not None:
        kind, pk = parsed
        if kind == "waitlist":
            entry = WaitlistEntry.objects.filter(pk=pk).select_related(
                "patient", "appointment_type").first()
            if entry is not None:
                return fhir_response(resources.entry_resource(entry))
        elif kind == "freed":
            slot = selectors.appointments_freed().filter(pk=pk).first()
            if slot is not None:
                return fhir_response(resources.freed_resource(slot))
        else:
            slot = Slot.objects.filter(pk=pk).select_related(
                "provider", "appointment_type", "filled_entry__patient").first()
            if slot is not None:
                return fhir_response(resources.slot_resource(slot))
    raise FhirError(404, f"No Appointment with id {resource_id[:60]!r} (ids look like "
                    "'waitlist-12', 'slot-34' or 'freed-56')", code="not-found")


@fhir_api(GET=None, POST=None, PUT=None, PATCH=None, DELETE=None)
def not_found(request, *, caller: Caller):
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


def _search(request):
    params = request.GET
    status = params.get("status")
    if status not in ("booked", "cancelled"):
        raise FhirError(400, "Search with status=booked (the slots filled through the system) "
                        "or status=cancelled (the appointments chain fills freed)",
                        code="not-supported", expression="status")
    updated_after = _last_updated(params.get("_lastUpdated"))
    count = _positive_int(params.get("_count"), "_count", DEFAULT_COUNT, maximum=MAX_COUNT)
    page_number = _positive_int(params.get("page"), "page", 1, maximum=10**6)
    if status == "booked":
        found, as_resource = selectors.slots_booked, resources.slot_resource
    else:
        found, as_resource = selectors.appointments_freed, resources.freed_resource
    paginator = Paginator(found(updated_after=updated_after), count)
    try:
        slots = list(paginator.page(page_number).object_list)
    except EmptyPage:
        slots = []

    def page_url(number):
        query = {"status": status, "_count": count, "page": number}
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
        resource = as_resource(slot)
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


@csrf_exempt
def metadata(request):
    """The CapabilityStatement: public, as FHIR and SMART expect, and only what is served."""
    if request.method != "GET":
        return outcome_response(FhirError(405, "GET the CapabilityStatement",
                                          code="not-supported"), headers={"Allow": "GET"})
    return fhir_response(resources.capability_statement())

"""Data the benchmarks run on: the demo clinic, a waitlist of bench patients, an API key,
a portal session, and the timestamps that latencies are read from."""

import datetime as dt
import itertools
import re

import requests
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from bench.lib import OUT_DIR, base_url
from clinic.models import Patient, Provider
from messaging.models import Message, MessageStatusEvent
from offers.models import Offer, Slot
from portal.demo import DEMO_PASSWORD, seed_demo
from waitlist.models import WaitlistEntry

BENCH_PATIENTS = 3000
# Patients of the bench waitlist: +1 312 400 0000 and up (valid numbers, never dialled).
PHONE_BASE = 3124000000
FRONT_DESK = "frontdesk"


def bench_phone(index: int) -> str:
    return f"+1{PHONE_BASE + index}"


def seed(patients: int = BENCH_PATIENTS) -> dict:
    """The demo clinic (staff, providers, types) and `patients` waitlisted patients who
    take any provider at any time, so every freed slot has candidates."""
    seed_demo()
    now = timezone.now()
    start = Patient.objects.filter(phone__startswith="+1312400").count()
    new = Patient.objects.bulk_create(
        Patient(first_name=f"Bench{i}", last_name="Patient", phone=bench_phone(i),
                preferred_language="es" if i % 4 == 0 else "en")
        for i in range(start, patients)
    )
    WaitlistEntry.objects.bulk_create(
        WaitlistEntry(patient=p, any_provider=True, urgent=i % 20 == 0, boost=(i % 5) * 2,
                      added_at=now - dt.timedelta(days=i % 300), comment="bench")
        for i, p in enumerate(new)
    )
    (OUT_DIR / "phones.txt").write_text(
        "\n".join(Patient.objects.filter(phone__startswith="+1312400")
                  .values_list("phone", flat=True)) + "\n")
    return {"patients": Patient.objects.count(),
            "active_entries": WaitlistEntry.objects.filter(status="active").count()}


def front_desk_user():
    return get_user_model().objects.get(username=FRONT_DESK)


def providers() -> list[Provider]:
    return list(Provider.objects.filter(active=True).exclude(identifier_value="").order_by("pk"))


# Freed slots need distinct times (the portal refuses a second slot at the same time for
# the same provider): each call hands out the next 20-minute slot, from the day after
# tomorrow, 7:00 to 19:00 local, and on through the following days.
def _slot_times():
    day = timezone.localdate() + dt.timedelta(days=2)
    tz = timezone.get_current_timezone()
    for offset in itertools.count():
        date = day + dt.timedelta(days=offset)
        for minute in range(7 * 60, 19 * 60, 20):
            yield dt.datetime.combine(date, dt.time(minute // 60, minute % 60), tzinfo=tz)


_times = _slot_times()


def next_slot_start() -> dt.datetime:
    start = next(_times)
    while Slot.objects.filter(start=start).exists():
        start = next(_times)
    return start


def first_handover(*, slot_id: int, batch: int = 1) -> dt.datetime | None:
    """When the first offer SMS of a slot's batch was handed to the SMS backend: the
    "sending" status event that messaging writes just before calling the backend."""
    return (
        MessageStatusEvent.objects.filter(
            status=Message.Status.SENDING, message__kind="offer",
            message__offer__slot_id=slot_id, message__offer__batch=batch,
        ).order_by("at").values_list("at", flat=True).first()
    )


def slots_withdraw(slot_ids) -> None:
    """Stop slots that served a measurement, so their later batches add no load."""
    from offers.services import slot_withdraw

    user = front_desk_user()
    for slot in Slot.objects.filter(pk__in=list(slot_ids), status=Slot.Status.OFFERING):
        slot_withdraw(slot=slot, by=user, reason="Benchmark done with this slot")


class PortalSession:
    """A front-desk user signed in to the portal over HTTP, as a browser would be.

    With DEBUG off the cookies are Secure and CSRF checks the Referer of HTTPS requests;
    the bench says it came through an HTTPS proxy (X-Forwarded-Proto, which settings
    trust) and keeps the cookies itself, since a client would not send Secure cookies
    over plain HTTP.
    """

    def __init__(self, username: str = FRONT_DESK, password: str = DEMO_PASSWORD):
        self.base = base_url()
        self.http = requests.Session()
        self.cookies: dict[str, str] = {}
        self.headers = {"X-Forwarded-Proto": "https",
                        "Referer": self.base.replace("http://", "https://") + "/"}
        page = self.get("/accounts/login/")
        response = self.post("/accounts/login/", {
            "username": username, "password": password,
            "csrfmiddlewaretoken": self.csrf_token(page.text)})
        if response.status_code != 302 or "sessionid" not in self.cookies:
            raise RuntimeError(f"Portal login failed: HTTP {response.status_code}")

    def _remember(self, response) -> None:
        for name, value in response.cookies.items():
            self.cookies[name] = value

    def _cookie_header(self) -> dict:
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}

    def get(self, path: str, **kwargs):
        response = self.http.get(self.base + path, allow_redirects=False, timeout=30,
                                 headers={**self.headers, **self._cookie_header()}, **kwargs)
        self._remember(response)
        return response

    def post(self, path: str, data: dict, **kwargs):
        data = {"csrfmiddlewaretoken": self.cookies.get("csrftoken", ""), **data}
        response = self.http.post(self.base + path, data=data, allow_redirects=False,
                                  timeout=30,
                                  headers={**self.headers, **self._cookie_header()}, **kwargs)
        self._remember(response)
        return response

    @staticmethod
    def csrf_token(html: str) -> str:
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
        return match.group(1) if match else ""


def database_version() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        return cursor.fetchone()[0]


def offers_accepted(slot_id: int) -> int:
    return Offer.objects.filter(slot_id=slot_id, status=Offer.Status.ACCEPTED).count()

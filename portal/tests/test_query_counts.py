"""Every list renders with a bounded number of queries, however long it is."""

import datetime as dt
import random

import pytest
from django.urls import reverse
from django.utils import timezone

from clinic.models import Patient
from clinic.tests.factories import AppointmentTypeFactory, ProviderFactory
from messaging.models import Message
from offers.models import Offer, Slot
from waitlist.models import WaitlistEntry

pytestmark = pytest.mark.django_db

MANY = 1000


@pytest.fixture
def busy_clinic(db):
    """1,000 waitlist entries, 1,000 slots (some filled, some unfilled), 3 offers each."""
    rng = random.Random(7)
    now = timezone.now()
    providers = [ProviderFactory() for _ in range(4)]
    kind = AppointmentTypeFactory()
    patients = Patient.objects.bulk_create(
        Patient(first_name=f"Pat{i}", last_name=f"Ient{i}", phone=f"+1312{3000000 + i:07d}")
        for i in range(MANY))
    entries = WaitlistEntry.objects.bulk_create(
        WaitlistEntry(patient=p, any_provider=i % 2 == 0, appointment_type=kind if i % 3 else None,
                      urgent=i % 7 == 0, boost=i % 5, added_at=now - dt.timedelta(days=i % 200))
        for i, p in enumerate(patients))
    WaitlistEntry.providers.through.objects.bulk_create(
        WaitlistEntry.providers.through(waitlistentry_id=e.pk, provider_id=providers[i % 4].pk)
        for i, e in enumerate(entries) if not e.any_provider)
    statuses = [Slot.Status.FILLED, Slot.Status.UNFILLED, Slot.Status.OFFERING]
    slots = []
    for i in range(MANY):
        start = now + dt.timedelta(hours=rng.randint(-24 * 70, 24 * 3))
        status = statuses[i % 3]
        slots.append(Slot(
            provider=providers[i % 4], start=start, end=start + dt.timedelta(minutes=20),
            status=status, created_at=start - dt.timedelta(hours=30),
            closed_at=start - dt.timedelta(hours=30) + dt.timedelta(minutes=rng.randint(2, 90))
            if status != Slot.Status.OFFERING else None,
            filled_via=Slot.FilledVia.SMS if status == Slot.Status.FILLED else "",
            filled_entry=entries[i] if status == Slot.Status.FILLED else None,
            current_batch=1))
    slots = Slot.objects.bulk_create(slots)
    offers = Offer.objects.bulk_create(
        Offer(slot=slot, entry=entries[(i * 3 + k) % MANY], patient_id=entries[(i * 3 + k) % MANY]
              .patient_id, batch=1, score=10,
              status=Offer.Status.ACCEPTED if slot.status == Slot.Status.FILLED and k == 0
              else Offer.Status.EXPIRED,
              hold_until=slot.start - dt.timedelta(hours=1))
        for i, slot in enumerate(slots) for k in range(3))
    Message.objects.bulk_create(
        Message(direction="out", from_number="+15005550006", to_number="+13125550100",
                body="offer", kind="offer", status="delivered", subject=o, patient_id=o.patient_id)
        for o in offers[:600])
    return {"providers": providers}


def test_today_renders_in_a_few_queries_with_a_thousand_of_everything(
        client, front_desk_user, busy_clinic, django_assert_max_num_queries):
    client.force_login(front_desk_user)
    client.get(reverse("portal:today"))  # warm the session and permission caches
    with django_assert_max_num_queries(15):
        response = client.get(reverse("portal:today"))
    assert response.status_code == 200
    assert response.content.decode().count('class="slot ') == 12
    with django_assert_max_num_queries(15):
        client.get(reverse("portal:today") + "?page=3", HTTP_HX_REQUEST="true",
                   HTTP_HX_TARGET="slots")


def test_waitlist_renders_in_a_few_queries_with_a_thousand_entries(
        client, front_desk_user, busy_clinic, django_assert_max_num_queries):
    client.force_login(front_desk_user)
    client.get(reverse("waitlist:list"))
    with django_assert_max_num_queries(15):
        response = client.get(reverse("waitlist:list"))
    page = response.content.decode()
    assert "1000 waiting" in page
    assert page.count('class="score"') == 25
    provider = busy_clinic["providers"][0]
    with django_assert_max_num_queries(15):
        response = client.get(reverse("waitlist:list"),
                              {"provider": provider.pk, "urgent": "on", "page": 2})
    assert response.status_code == 200


def test_reports_render_in_a_few_queries_with_a_thousand_slots(
        client, manager_user, busy_clinic, django_assert_max_num_queries):
    client.force_login(manager_user)
    client.get(reverse("portal:reports"))
    with django_assert_max_num_queries(15):
        response = client.get(reverse("portal:reports"), {"weeks": 12})
    assert response.status_code == 200
    assert response.content.decode().count('class="bar-filled"') >= 12


def test_patient_page_renders_in_a_few_queries_with_a_long_history(
        client, front_desk_user, busy_clinic, django_assert_max_num_queries):
    patient = Patient.objects.first()
    provider = busy_clinic["providers"][0]
    now = timezone.now()
    entries = WaitlistEntry.objects.bulk_create(
        WaitlistEntry(patient=patient, added_at=now - dt.timedelta(days=i)) for i in range(60))
    WaitlistEntry.providers.through.objects.bulk_create(
        WaitlistEntry.providers.through(waitlistentry_id=e.pk, provider_id=provider.pk)
        for e in entries)
    slots = Slot.objects.bulk_create(
        Slot(provider=provider, start=now + dt.timedelta(hours=i),
             end=now + dt.timedelta(hours=i, minutes=20), status=Slot.Status.UNFILLED)
        for i in range(60))
    offers = Offer.objects.bulk_create(
        Offer(slot=slot, entry=entry, patient=patient, batch=1, score=10,
              status=Offer.Status.EXPIRED)
        for slot, entry in zip(slots, entries, strict=True))
    Message.objects.bulk_create(
        Message(direction="out", from_number="+15005550006", to_number=patient.phone,
                body="offer", kind="offer", status="delivered", subject=o, patient=patient)
        for o in offers for _ in range(2))
    url = reverse("portal:patient", args=[patient.pk])
    client.force_login(front_desk_user)
    client.get(url)
    # Four lists, each a count and a page (offers also their texts, entries their
    # providers), the audit trail's history tables, the session and permissions.
    with django_assert_max_num_queries(22):
        response = client.get(url)
    assert response.status_code == 200
    assert response.context["offers"].paginator.count >= 60
    with django_assert_max_num_queries(22):
        client.get(url, {"offers": 3, "entries": 2, "messages": 2, "audit": 2})

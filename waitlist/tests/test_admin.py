import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from waitlist.tests.factories import WaitlistEntryFactory

pytestmark = pytest.mark.django_db


def test_admin_lists_the_score_and_explains_it_on_the_entry(client, admin_user):
    entry = WaitlistEntryFactory(
        urgent=True, boost=10,
        current_appointment_at=timezone.now() + dt.timedelta(days=200),
        added_at=timezone.now() - dt.timedelta(days=61),
    )
    client.force_login(admin_user)
    listing = client.get(reverse("admin:waitlist_waitlistentry_changelist") + "?o=3")
    assert listing.status_code == 200
    assert b'<td class="field-score">62</td>' in listing.content
    page = client.get(reverse("admin:waitlist_waitlistentry_change", args=[entry.pk]))
    assert "urgent 30 + boost 10 + appointment 20 + waiting 2 = 62" in page.content.decode()


def test_admin_cannot_change_a_place_in_line_or_delete_an_entry(client, admin_user):
    entry = WaitlistEntryFactory(urgent=False, boost=0)
    client.force_login(admin_user)
    page = client.get(reverse("admin:waitlist_waitlistentry_change", args=[entry.pk]))
    form = page.context["adminform"].form
    # Urgent, boost and status are shown, not editable: they change in the portal, with a
    # reason kept in the audit trail.
    assert not {"urgent", "boost", "status"} & set(form.fields)
    response = client.post(reverse("admin:waitlist_waitlistentry_delete", args=[entry.pk]),
                           {"post": "yes"})
    assert response.status_code == 403
    entry.refresh_from_db()
    assert (entry.urgent, entry.boost, entry.status) == (False, 0, "active")


def test_an_entrys_patient_cannot_be_changed_in_the_admin_once_offers_exist(
        client, admin_user):
    from clinic.tests.factories import PatientFactory
    from offers.tests.factories import OfferFactory

    offer = OfferFactory()
    entry, someone_else = offer.entry, PatientFactory()
    client.force_login(admin_user)
    url = reverse("admin:waitlist_waitlistentry_change", args=[entry.pk])

    form = client.get(url).context["adminform"].form
    assert "patient" not in form.fields
    client.post(url, {"patient": someone_else.pk, "any_provider": "on", "comment": "moved",
                      "added_at_0": "2026-01-01", "added_at_1": "10:00", "source": "portal",
                      "for_name": ""})
    entry.refresh_from_db()
    assert entry.patient_id == offer.patient_id


def test_the_admin_refuses_a_second_entry_for_the_same_visit(client, admin_user):
    entry = WaitlistEntryFactory(any_provider=True)
    client.force_login(admin_user)

    response = client.post(reverse("admin:waitlist_waitlistentry_add"), {
        "patient": entry.patient_id, "any_provider": "on", "added_at_0": "2026-01-01",
        "added_at_1": "10:00", "source": "admin", "for_name": "", "comment": ""})

    assert response.status_code == 200
    assert "already waits for this visit" in response.content.decode()
    assert entry.patient.waitlist_entries.count() == 1

"""The admin is for audit: offers cannot be touched by hand, and slots change only
through actions that call the engine's services."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from messaging.models import Message
from offers.models import Offer, Slot
from offers.tests.conftest import live, open_slot, slot_start, waitlist

pytestmark = pytest.mark.django_db


@pytest.fixture
def offered(provider, commit):
    waitlist(5)
    with commit():
        slot = open_slot(provider)
    return slot


def test_offers_cannot_be_added_changed_or_deleted_in_the_admin(client, admin_user, offered):
    offer = live(offered)[0]
    client.force_login(admin_user)
    assert client.get(reverse("admin:offers_offer_add")).status_code == 403
    change_url = reverse("admin:offers_offer_change", args=[offer.pk])
    assert client.get(change_url).status_code == 200  # still readable, for audit
    assert client.post(change_url, {"status": "accepted"}).status_code == 403
    delete_url = reverse("admin:offers_offer_delete", args=[offer.pk])
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    offer.refresh_from_db()
    assert offer.is_live
    assert client.get(reverse("admin:offers_offer_history", args=[offer.pk])).status_code == 200


def test_a_slots_engine_state_cannot_be_edited_or_deleted_in_the_admin(client, admin_user,
                                                                        offered):
    client.force_login(admin_user)
    change_url = reverse("admin:offers_slot_change", args=[offered.pk])
    response = client.post(change_url, {"status": "withdrawn", "current_batch": 9,
                                        "offers-TOTAL_FORMS": 0, "offers-INITIAL_FORMS": 0})
    assert response.status_code in (200, 302)
    offered.refresh_from_db()
    assert (offered.status, offered.current_batch) == (Slot.Status.OFFERING, 1)
    delete_url = reverse("admin:offers_slot_delete", args=[offered.pk])
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    assert Slot.objects.filter(pk=offered.pk).exists()


def test_a_slot_added_in_the_admin_is_recorded_and_offered(client, admin_user, provider,
                                                           commit):
    waitlist(3)
    start = timezone.localtime(slot_start())
    client.force_login(admin_user)
    with commit():
        response = client.post(reverse("admin:offers_slot_add"), {
            "provider": provider.pk, "start_0": f"{start:%Y-%m-%d}", "start_1": f"{start:%H:%M}",
            "end_0": f"{start:%Y-%m-%d}", "end_1": f"{start + dt.timedelta(minutes=20):%H:%M}",
            "offers-TOTAL_FORMS": 0, "offers-INITIAL_FORMS": 0})
    assert response.status_code == 302
    slot = Slot.objects.get()
    assert response["Location"] == reverse("admin:offers_slot_changelist")
    assert (slot.source, slot.recorded_by) == (Slot.Source.ADMIN, admin_user)
    assert slot.current_batch == 1
    assert len(live(slot)) == 3
    assert slot.history.earliest().history_user == admin_user


def test_a_slot_that_ends_before_it_starts_is_a_form_error_in_the_admin(client, admin_user,
                                                                        provider):
    start = timezone.localtime(slot_start())
    client.force_login(admin_user)
    response = client.post(reverse("admin:offers_slot_add"), {
        "provider": provider.pk, "start_0": f"{start:%Y-%m-%d}", "start_1": f"{start:%H:%M}",
        "end_0": f"{start:%Y-%m-%d}", "end_1": f"{start:%H:%M}",
        "offers-TOTAL_FORMS": 0, "offers-INITIAL_FORMS": 0})
    assert response.status_code == 200
    assert "must end after it starts" in response.content.decode()
    assert not Slot.objects.exists()


def _act(client, action, slots):
    return client.post(reverse("admin:offers_slot_changelist"), {
        "action": action, "_selected_action": [s.pk for s in slots]}, follow=True)


def test_withdrawing_in_the_admin_ends_the_offers_and_tells_the_patients(client, admin_user,
                                                                        offered, commit):
    offers = live(offered)
    client.force_login(admin_user)
    with commit():
        response = _act(client, "withdraw_slots", [offered])
    assert "withdrawn" in response.content.decode()
    offered.refresh_from_db()
    assert offered.status == Slot.Status.WITHDRAWN
    assert offered.history.first().history_user == admin_user
    assert live(offered) == []
    told = Message.objects.filter(kind="offer_closed").values_list("patient_id", flat=True)
    assert set(told) == {o.patient_id for o in offers}


def test_offering_to_more_in_the_admin_sends_another_batch(client, admin_user, offered,
                                                           commit):
    client.force_login(admin_user)
    with commit():
        _act(client, "offer_to_more_now", [offered])
    offered.refresh_from_db()
    assert offered.current_batch == 2
    assert len(live(offered)) == 5
    # Nobody is left: the engine's refusal is shown, not a crash.
    response = _act(client, "offer_to_more_now", [offered])
    assert "No one else on the waitlist fits this slot." in response.content.decode()
    assert Offer.objects.filter(slot=offered).count() == 5

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from clinic.tests.factories import PatientFactory
from messaging.models import Message
from offers.models import Offer
from offers.tests.factories import OfferFactory
from waitlist.tests.factories import WaitlistEntryFactory

pytestmark = pytest.mark.django_db


def _offer_text(offer, status):
    return Message.objects.create(
        direction=Message.Direction.OUT, from_number="+15005550006",
        to_number=offer.patient.phone, body="A slot opened", kind="offer", status=status,
        subject=offer, patient=offer.patient)


def _held_offer(patient, status=Offer.Status.SENT):
    entry = WaitlistEntryFactory(patient=patient)
    return OfferFactory(entry=entry, patient=patient, status=status,
                        hold_until=timezone.now() + dt.timedelta(minutes=7))


@pytest.mark.parametrize(("text_status", "label"), [
    (Message.Status.SENT, "Sent, on hold"),
    (Message.Status.DELIVERED, "Delivered, on hold"),
    (Message.Status.UNDELIVERED, "Not delivered"),
])
def test_offer_history_labels_an_offer_as_the_today_page_does(client, front_desk_user,
                                                               text_status, label):
    patient = PatientFactory()
    _offer_text(_held_offer(patient), text_status)
    client.force_login(front_desk_user)
    page = client.get(reverse("portal:patient", args=[patient.pk])).content.decode()
    assert label in page
    today = client.get(reverse("portal:today")).content.decode()
    assert label in today


def test_every_waitlist_entry_is_reachable_page_by_page(client, front_desk_user):
    patient = PatientFactory()
    WaitlistEntryFactory.create_batch(12, patient=patient)
    client.force_login(front_desk_user)
    url = reverse("portal:patient", args=[patient.pk])
    first = client.get(url).content.decode()
    assert 'aria-label="Waitlist entry pages"' in first
    assert "Page 1 of 2" in first
    second = client.get(url, {"entries": 2})
    assert second.context["entries"].number == 2
    assert len(second.context["entries"].object_list) == 2


def test_each_pager_keeps_the_other_pagers_pages(client, front_desk_user):
    patient = PatientFactory()
    for _ in range(12):
        # 12 offers and, through them, 12 waitlist entries
        _held_offer(patient, status=Offer.Status.EXPIRED)
    client.force_login(front_desk_user)
    page = client.get(reverse("portal:patient", args=[patient.pk]),
                      {"offers": 2, "audit": 1}).content.decode()
    assert 'href="?offers=2&amp;audit=1&amp;entries=2" rel="next"' in page
    assert 'href="?offers=1&amp;audit=1" rel="prev"' in page


def test_the_simulator_lists_every_patient_holding_an_offer(client, front_desk_user):
    for _ in range(23):
        OfferFactory(status=Offer.Status.SENT,
                     hold_until=timezone.now() + dt.timedelta(minutes=7))
    client.force_login(front_desk_user)
    first = client.get(reverse("portal:simulator"))
    assert len(first.context["holders"].object_list) == 20
    assert 'href="?holders=2" rel="next"' in first.content.decode()
    second = client.get(reverse("portal:simulator"), {"holders": 2})
    assert len(second.context["holders"].object_list) == 3
    # Choosing a patient on page 2 stays on page 2.
    holder = second.context["holders"].object_list[0]
    assert f'href="?holders=2&amp;patient={holder.patient_id}"' in second.content.decode()

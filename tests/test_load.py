"""Load on PostgreSQL: 200 patients answer YES at once, 20 to each of 10 open slots.

Real threads, each with its own database connection, post signed Twilio webhooks through
Django's full request handling. Every slot ends with exactly one booking, every patient
gets an answer, and nothing errors.
"""

import datetime as dt
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from xml.etree import ElementTree

import pytest
from django.db import connections
from django.test import Client
from django.utils import timezone

from messaging.models import Message
from messaging.tests.twilio_fakes import FROM_NUMBER, twilio_post
from offers.models import Offer, Slot
from offers.tests.factories import SlotFactory
from waitlist.models import WaitlistEntry
from waitlist.tests.factories import WaitlistEntryFactory

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SLOTS = 10
PATIENTS_PER_SLOT = 20
# One thread (and one PostgreSQL connection) per reply, all released by one barrier.
THREADS = SLOTS * PATIENTS_PER_SLOT
# The threads' connections, the test's own, and headroom for anything else on the server.
CONNECTIONS_NEEDED = THREADS + 20


def require_enough_connections() -> None:
    """PostgreSQL's default max_connections (100) cannot hold 200 clients at once. CI raises
    it (.ci/run); a developer's default server skips this test instead of failing it."""
    with connections["default"].cursor() as cursor:
        cursor.execute("SHOW max_connections")
        available = int(cursor.fetchone()[0])
    if available < CONNECTIONS_NEEDED:
        reason = (f"PostgreSQL allows max_connections={available}; this test needs at least "
                  f"{CONNECTIONS_NEEDED} (ALTER SYSTEM SET max_connections = 300, then restart "
                  "PostgreSQL; .ci/run does it)")
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


def open_slots_with_live_offers() -> list[Offer]:
    now = timezone.now()
    offers = []
    for _ in range(SLOTS):
        slot = SlotFactory()
        for _ in range(PATIENTS_PER_SLOT):
            entry = WaitlistEntryFactory()
            offers.append(Offer.objects.create(
                slot=slot, entry=entry, patient=entry.patient, batch=1,
                status=Offer.Status.SENT, sent_at=now, hold_until=now + dt.timedelta(minutes=7)))
    return offers


def test_two_hundred_simultaneous_yeses_book_each_of_ten_slots_exactly_once(fake_twilio,
                                                                           settings):
    require_enough_connections()
    settings.SMS_SEND_HOURS = (dt.time(0, 0), None)
    offers = open_slots_with_live_offers()
    assert len(offers) == THREADS
    start_together = threading.Barrier(THREADS, timeout=60)

    def reply_yes(index_and_offer):
        index, offer = index_and_offer
        try:
            start_together.wait()
            response = twilio_post(Client(), "/twilio/sms/", {
                "From": offer.patient.phone, "To": FROM_NUMBER, "Body": "YES",
                "MessageSid": f"SMload{index:030d}",
            })
            return offer.pk, response.status_code, response.content.decode()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        results = list(pool.map(reply_yes, enumerate(offers)))

    assert [status for _, status, _ in results] == [200] * len(offers)
    replies = {offer_id: ElementTree.fromstring(body).findtext("Message") or ""
               for offer_id, _, body in results}
    assert all(replies.values()), "every patient gets an answer"

    accepted = Offer.objects.filter(status=Offer.Status.ACCEPTED)
    assert accepted.count() == SLOTS
    assert sorted(accepted.values_list("slot_id", flat=True)) == sorted(
        {offer.slot_id for offer in offers})
    assert Slot.objects.filter(status=Slot.Status.FILLED).count() == SLOTS
    for slot in Slot.objects.all():
        winner = accepted.get(slot=slot)
        assert slot.filled_entry_id == winner.entry_id
    assert WaitlistEntry.objects.filter(status=WaitlistEntry.Status.BOOKED).count() == SLOTS
    assert not Offer.objects.filter(status__in=Offer.LIVE_STATUSES).exists()
    # Winners are confirmed; everyone else is told it is gone, once.
    winners = set(accepted.values_list("pk", flat=True))
    confirmations = Message.objects.filter(kind="confirmation")
    assert confirmations.count() == SLOTS
    for offer_id, reply in replies.items():
        if offer_id in winners:
            assert reply == confirmations.get(offer=offer_id).body
    assert Message.objects.filter(kind="already_filled").count() == len(offers) - SLOTS
    assert Message.objects.filter(direction="in").count() == len(offers)

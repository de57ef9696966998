"""An existing database moves forward: messages linked to an offer by messaging's old
offer column keep that link, as their subject (messaging 0004-0005, offers 0006)."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("messaging", "0003_plain_status_words"),
          ("offers", "0005_slot_waiting_for_unfilled_reason")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_messages_linked_to_an_offer_keep_it_as_their_subject():
    from offers.tests.factories import OfferFactory

    offer = OfferFactory()
    old = _migrate(BEFORE)
    OldMessage = old.get_model("messaging", "Message")
    linked = OldMessage.objects.create(direction="out", from_number="+15005550006",
                                       to_number=offer.patient.phone, body="A slot opened",
                                       kind="offer", status="sent", offer_id=offer.pk,
                                       patient_id=offer.patient_id)
    unlinked = OldMessage.objects.create(direction="in", from_number=offer.patient.phone,
                                         to_number="+15005550006", body="hi", kind="thanks",
                                         status="received")

    executor = MigrationExecutor(connection)
    _migrate(executor.loader.graph.leaf_nodes())

    from messaging.models import Message

    assert Message.objects.get(pk=linked.pk).subject == offer
    assert list(offer.messages.values_list("pk", flat=True)) == [linked.pk]
    assert Message.objects.get(pk=unlinked.pk).subject_id is None

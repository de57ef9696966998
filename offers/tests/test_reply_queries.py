"""What an inbound YES/NO costs the database, the busiest path in the product (see the
README's "Performance"): a bounded number of statements per reply, no locks for replies
that cannot change anything, and still the full audit trail for those that do."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clinic.tests.factories import PatientFactory
from messaging.models import Message, MessageStatusEvent
from messaging.services import inbound_handle
from offers.models import Offer
from offers.tests.conftest import open_slot, waitlist

pytestmark = pytest.mark.django_db(transaction=True)

sids = iter(range(1, 10_000))


def reply(patient, body):
    """The reply's text and the SQL it sent (BEGIN and COMMIT included where logged)."""
    with CaptureQueriesContext(connection) as queries:
        text = inbound_handle(from_number=patient.phone, to_number="+13125550100",
                              body=body, sid=f"SM{next(sids):032d}")
    return text, [q["sql"] for q in queries.captured_queries]


@pytest.fixture
def offers(provider, settings):
    settings.OFFER_BATCH_SIZE = 3
    waitlist(3)
    slot = open_slot(provider)
    return list(Offer.objects.filter(slot=slot).select_related("patient").order_by("-score"))


def test_a_yes_from_a_patient_without_offers_costs_eight_statements(offers):
    text, sql = reply(PatientFactory(), "YES")

    assert "There is no offer to answer right now" in text
    # BEGIN, the patient, the inbound message, whether a waitlist check-in awaits their
    # answer (docs/how-offers-work.md, "Check-ins and offers"), the offer lookup, whether
    # they are on the waitlist (the answer may only say "you stay on our waitlist" if so),
    # the reply, COMMIT.
    assert len(sql) <= 8, sql
    assert not any("SAVEPOINT" in s for s in sql)


def test_a_late_reply_to_a_settled_offer_takes_no_lock(offers):
    winner, loser = offers[0], offers[1]
    reply(winner.patient, "YES")

    for body in ("YES", "NO"):
        text, sql = reply(loser.patient, body)

        assert len(sql) <= 8, sql  # as above, check-in look included
        assert not any("FOR UPDATE" in s for s in sql)
    assert Message.objects.filter(direction="in", patient=loser.patient,
                                  offer=loser).count() == 2


def test_a_no_to_a_live_offer_is_audited_in_a_bounded_number_of_statements(offers):
    declined = offers[0]
    history_before = declined.history.count()

    text, sql = reply(declined.patient, "NO")

    assert "Thanks for letting us know" in text
    # ... plus, after commit, one look for slots waiting for this now free patient, and
    # one for an open waitlist check-in.
    assert len(sql) <= 15, sql
    declined.refresh_from_db()
    assert declined.status == Offer.Status.DECLINED
    assert declined.history.count() == history_before + 1
    assert declined.history.first().history_change_reason.endswith("Patient replied NO")


def test_an_inbound_reply_and_its_answer_record_their_status_in_their_rows(offers):
    reply(offers[0].patient, "NO")

    inbound = Message.objects.get(direction="in", patient=offers[0].patient)
    answer = Message.objects.get(direction="out", patient=offers[0].patient, kind="declined")
    assert not MessageStatusEvent.objects.filter(message__in=[inbound, answer]).exists()
    assert [status for status, _, _ in inbound.status_history()] == ["received"]
    assert [status for status, _, _ in answer.status_history()] == [answer.status]
    assert answer.status in (Message.Status.SENT, Message.Status.ACCEPTED)

"""purge_messages blanks old bodies and keeps the audit facts."""

import datetime as dt

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from clinic.tests.factories import PatientFactory
from messaging.models import Message, MessageStatusEvent

pytestmark = pytest.mark.django_db


def make_message(*, days_old: float, status="delivered", body="Dr. Lee Tue 10:00? Reply YES"):
    patient = PatientFactory()
    message = Message.objects.create(
        direction="out", from_number="+13125550100", to_number=patient.phone, body=body,
        kind="offer", status=status, patient=patient, twilio_sid=f"SM{days_old}{status}",
        created_at=timezone.now() - dt.timedelta(days=days_old),
    )
    MessageStatusEvent.objects.create(message=message, status=status)
    return message


def purge(days):
    from io import StringIO

    out = StringIO()
    call_command("purge_messages", "--older-than", str(days), stdout=out)
    return out.getvalue()


def test_old_bodies_are_blanked_and_the_audit_facts_kept():
    old = make_message(days_old=40)
    before = Message.objects.values().get(pk=old.pk)

    output = purge(30)

    assert "Purged the bodies of 1 message(s) older than 30 days." in output
    after = Message.objects.values().get(pk=old.pk)
    assert after["body"] == ""
    assert after["body_purged_at"] is not None
    for fact in ("direction", "from_number", "to_number", "kind", "twilio_sid", "status",
                 "patient_id", "subject_type_id", "subject_id", "created_at", "sent_at",
                 "error_code"):
        assert after[fact] == before[fact], fact
    assert old.status_events.count() == 1


def test_recent_messages_and_messages_still_in_flight_are_left_alone():
    recent = make_message(days_old=5)
    stuck = make_message(days_old=40, status="sending")

    purge(30)

    recent.refresh_from_db()
    stuck.refresh_from_db()
    assert recent.body.startswith("Dr. Lee")
    assert recent.body_purged_at is None
    assert stuck.body.startswith("Dr. Lee")


def test_running_it_twice_purges_once():
    make_message(days_old=40)
    purge(30)
    first = Message.objects.get().body_purged_at
    assert "of 0 message(s)" in purge(30)
    assert Message.objects.get().body_purged_at == first


@pytest.mark.parametrize("days", ["0", "-3"])
def test_a_nonsense_age_is_refused(days):
    make_message(days_old=40)
    with pytest.raises(CommandError, match="at least 1 day"):
        call_command("purge_messages", "--older-than", days)
    assert Message.objects.get().body_purged_at is None


def test_the_age_is_required():
    with pytest.raises(CommandError):
        call_command("purge_messages")

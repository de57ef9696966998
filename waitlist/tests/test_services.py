import pytest
from django.core.exceptions import ValidationError

from clinic.tests.factories import PatientFactory
from waitlist import services, signals
from waitlist.models import WaitlistEntry
from waitlist.tests.factories import WaitlistEntryFactory

pytestmark = pytest.mark.django_db


def test_the_ehr_may_add_with_priority_without_a_reason_and_the_trail_says_so():
    entry = services.entry_add(patient=PatientFactory(), any_provider=True, urgent=True,
                               source=WaitlistEntry.Source.EHR, by=None)
    assert entry.urgent
    assert entry.history.earliest().history_change_reason.endswith(
        "Added with priority by EHR (FHIR API)")


def test_staff_adding_with_priority_without_a_reason_is_refused(manager_user):
    with pytest.raises(ValidationError) as refused:
        services.entry_add(patient=PatientFactory(), any_provider=True, boost=5,
                           by=manager_user, reason="  ")
    assert "reason" in refused.value.message_dict
    assert not WaitlistEntry.objects.exists()


def test_removing_an_entry_announces_it_after_commit_once(django_capture_on_commit_callbacks):
    entry = WaitlistEntryFactory()
    heard = []

    def listener(sender, *, entry, **kwargs):
        heard.append(entry.status)

    signals.entry_removed.connect(listener)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            services.entry_remove(entry=entry, reason="Moved away")
            assert heard == []  # not before the removal is committed
            services.entry_remove(entry=entry, reason="Moved away")  # already removed
    finally:
        signals.entry_removed.disconnect(listener)
    assert heard == [WaitlistEntry.Status.REMOVED]

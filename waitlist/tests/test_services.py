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


# --- two entries of one patient are two visits -------------------------------------
def test_a_second_entry_for_the_same_visit_is_refused_and_names_the_first(front_desk_user):
    from clinic.tests.factories import AppointmentTypeFactory, ProviderFactory

    chen, park = ProviderFactory(name="Dr. Chen"), ProviderFactory(name="Dr. Park")
    checkup = AppointmentTypeFactory(name="Check-up")
    patient = PatientFactory()
    first = services.entry_add(patient=patient, providers=[chen, park],
                               appointment_type=checkup, by=front_desk_user)

    with pytest.raises(services.DuplicateEntry) as refused:
        services.entry_add(patient=patient, providers=[park], appointment_type=checkup,
                           by=front_desk_user)

    assert refused.value.existing == first
    assert "already waits for this visit" in refused.value.messages[0]
    assert "Check-up" in refused.value.messages[0]
    assert WaitlistEntry.objects.count() == 1


def test_a_second_entry_for_another_visit_or_another_provider_is_its_own_entry(
        front_desk_user):
    from clinic.tests.factories import AppointmentTypeFactory, ProviderFactory

    chen, park = ProviderFactory(), ProviderFactory()
    patient = PatientFactory()
    services.entry_add(patient=patient, providers=[chen], by=front_desk_user)
    services.entry_add(patient=patient, providers=[park], by=front_desk_user)
    services.entry_add(patient=patient, providers=[chen], by=front_desk_user,
                       appointment_type=AppointmentTypeFactory())
    assert WaitlistEntry.objects.filter(patient=patient, status="active").count() == 3
    # "Any provider" overlaps every provider: that one would be the same visit.
    with pytest.raises(services.DuplicateEntry):
        services.entry_add(patient=patient, any_provider=True, by=front_desk_user)


def test_a_family_member_sharing_the_phone_may_wait_for_the_same_visit(front_desk_user):
    patient = PatientFactory(first_name="Ana")
    services.entry_add(patient=patient, any_provider=True, by=front_desk_user)
    for_leo = services.entry_add(patient=patient, any_provider=True, by=front_desk_user,
                                 for_name="  Leo   Lopez ")
    assert for_leo.for_name == "Leo Lopez"
    assert for_leo.first_name == "Leo"
    with pytest.raises(services.DuplicateEntry):
        services.entry_add(patient=patient, any_provider=True, by=front_desk_user,
                           for_name="leo lópez")


def test_changing_an_entry_into_a_copy_of_another_is_refused(front_desk_user):
    from clinic.tests.factories import ProviderFactory

    chen, park = ProviderFactory(), ProviderFactory()
    patient = PatientFactory()
    services.entry_add(patient=patient, providers=[chen], by=front_desk_user)
    other = services.entry_add(patient=patient, providers=[park], by=front_desk_user)

    with pytest.raises(services.DuplicateEntry):
        services.entry_update(entry=other, providers=[chen], by=front_desk_user)
    assert list(WaitlistEntry.objects.get(pk=other.pk).providers.all()) == [park]


def test_names_match_as_a_front_desk_would_judge_them():
    from waitlist.selectors import names_match

    assert names_match("María", "Núñez", "maria", "NUNEZ ")
    assert names_match("Ana", "", "Ana", "Lopez")
    assert not names_match("Ana", "Lopez", "Leo", "Lopez")
    assert not names_match("Ana", "Lopez", "Ana", "Ruiz")

import pytest
from django.urls import reverse

from clinic.models import Patient
from clinic.tests.factories import PatientFactory, ProviderFactory
from waitlist.models import WaitlistEntry
from waitlist.tests.factories import WaitlistEntryFactory

pytestmark = pytest.mark.django_db


def _entry_form(**extra):
    return {"any_provider": "on", "boost": 0, **extra}


def test_the_list_is_ranked_best_first_with_the_breakdown(client, front_desk_user):
    WaitlistEntryFactory(patient=PatientFactory(first_name="Low"))
    WaitlistEntryFactory(patient=PatientFactory(first_name="High"), urgent=True, boost=10)
    client.force_login(front_desk_user)
    page = client.get(reverse("waitlist:list")).content.decode()
    assert page.index("High") < page.index("Low")
    assert "urgent 30 + boost 10 = 40" in page


def test_search_finds_by_name_or_phone_and_filters_narrow(client, front_desk_user):
    ana = WaitlistEntryFactory(patient=PatientFactory(first_name="Ana", phone="+13125550177"))
    WaitlistEntryFactory(patient=PatientFactory(first_name="Ben"), urgent=True)
    client.force_login(front_desk_user)
    by_name = client.get(reverse("waitlist:list"), {"q": "ana"}).content.decode()
    assert "Ana" in by_name
    assert "Ben" not in by_name
    by_phone = client.get(reverse("waitlist:list"), {"q": "555-0177"}).content.decode()
    assert str(ana.patient) in by_phone
    assert "Ben" not in by_phone
    urgent = client.get(reverse("waitlist:list"), {"urgent": "on"}).content.decode()
    assert "Ben" in urgent
    assert "Ana" not in urgent


def test_htmx_filtering_renders_only_the_table(client, front_desk_user):
    WaitlistEntryFactory()
    client.force_login(front_desk_user)
    response = client.get(reverse("waitlist:list"), {"q": "x"}, HTTP_HX_REQUEST="true",
                          HTTP_HX_TARGET="entries")
    assert response.content.decode().lstrip().startswith('<div id="entries"')


def test_front_desk_adds_a_new_patient_to_the_waitlist(client, front_desk_user):
    provider = ProviderFactory()
    client.force_login(front_desk_user)
    response = client.post(reverse("waitlist:add"), {
        "first_name": "Rosa", "last_name": "Diaz", "phone": "(312) 555-0199",
        "preferred_language": "es", "providers": [provider.pk], "boost": 0})
    assert response.status_code == 302
    entry = WaitlistEntry.objects.get()
    assert entry.patient.phone == "+13125550199"
    assert list(entry.providers.all()) == [provider]
    assert entry.added_by == front_desk_user


def test_a_bad_phone_or_no_provider_is_a_form_error_and_saves_nothing(client, front_desk_user):
    client.force_login(front_desk_user)
    response = client.post(reverse("waitlist:add"), {
        "first_name": "Rosa", "phone": "12", "preferred_language": "en", "boost": 0})
    assert response.status_code == 200
    body = response.content.decode()
    assert "not a valid phone number" in body or "not a phone number" in body
    assert "Choose at least one provider" in body
    assert not Patient.objects.exists()


def test_front_desk_cannot_set_urgent_or_boost_even_by_posting_them(client, front_desk_user):
    entry = WaitlistEntryFactory()
    client.force_login(front_desk_user)
    response = client.post(reverse("waitlist:edit", args=[entry.pk]),
                           _entry_form(urgent="on", boost=40, reason="please"))
    assert response.status_code == 302
    entry.refresh_from_db()
    assert (entry.urgent, entry.boost) == (False, 0)


def test_a_manager_boost_needs_a_reason_which_the_audit_trail_keeps(client, manager_user):
    entry = WaitlistEntryFactory()
    client.force_login(manager_user)
    response = client.post(reverse("waitlist:edit", args=[entry.pk]),
                           _entry_form(urgent="on", boost=15))
    assert "Say why" in response.content.decode()
    entry.refresh_from_db()
    assert not entry.urgent
    response = client.post(reverse("waitlist:edit", args=[entry.pk]),
                           _entry_form(urgent="on", boost=15, reason="Worsening pain"))
    assert response.status_code == 302
    entry.refresh_from_db()
    assert (entry.urgent, entry.boost) == (True, 15)
    latest = entry.history.latest()
    assert latest.history_user == manager_user
    assert "Worsening pain" in latest.history_change_reason


def test_removing_an_entry_needs_a_reason_and_keeps_the_row(client, front_desk_user):
    entry = WaitlistEntryFactory()
    client.force_login(front_desk_user)
    response = client.post(reverse("waitlist:remove", args=[entry.pk]), {"reason": ""})
    assert response.status_code == 200
    response = client.post(reverse("waitlist:remove", args=[entry.pk]),
                           {"reason": "Booked elsewhere"})
    assert response.status_code == 302
    entry.refresh_from_db()
    assert entry.status == WaitlistEntry.Status.REMOVED
    assert "Booked elsewhere" in entry.history.latest().history_change_reason
    client.get(reverse("waitlist:list"))  # shows, and so clears, the flash message
    assert str(entry.patient) not in client.get(reverse("waitlist:list")).content.decode()


def test_outsiders_cannot_change_entries(client, outsider_user):
    entry = WaitlistEntryFactory()
    client.force_login(outsider_user)
    assert client.post(reverse("waitlist:remove", args=[entry.pk]),
                       {"reason": "x"}).status_code == 403
    assert client.post(reverse("waitlist:edit", args=[entry.pk]),
                       _entry_form()).status_code == 403


def _new_patient_form(**extra):
    return {"first_name": "Rosa", "last_name": "Diaz", "phone": "(312) 555-0199",
            "preferred_language": "en", "any_provider": "on", "boost": 0, **extra}


def test_a_manager_adding_an_urgent_or_boosted_entry_must_say_why(client, manager_user):
    client.force_login(manager_user)
    for priority in ({"urgent": "on"}, {"boost": 10}):
        response = client.post(reverse("waitlist:add"), _new_patient_form(**priority))
        assert response.status_code == 200
        assert "Say why" in str(response.context["form"].errors["reason"])
    assert not WaitlistEntry.objects.exists()


def test_the_reason_for_adding_with_priority_is_kept_in_the_audit_trail(client, manager_user):
    client.force_login(manager_user)
    response = client.post(reverse("waitlist:add"), _new_patient_form(
        urgent="on", boost=10, reason="Post-op follow-up overdue"))
    assert response.status_code == 302
    entry = WaitlistEntry.objects.get()
    assert (entry.urgent, entry.boost) == (True, 10)
    first = entry.history.earliest()
    assert first.history_user == manager_user
    assert "Post-op follow-up overdue" in first.history_change_reason


def test_adding_without_priority_needs_no_reason(client, front_desk_user):
    client.force_login(front_desk_user)
    response = client.post(reverse("waitlist:add"), _new_patient_form())
    assert response.status_code == 302
    assert WaitlistEntry.objects.get().history.earliest().history_change_reason.endswith(
        "Added to the waitlist")


def test_a_booked_entry_cannot_be_removed_and_says_why(client, front_desk_user):
    entry = WaitlistEntryFactory(status=WaitlistEntry.Status.BOOKED)
    client.force_login(front_desk_user)
    response = client.post(reverse("waitlist:remove", args=[entry.pk]), {"reason": "Dup"})
    assert response.status_code == 200
    assert "was booked into a slot" in response.content.decode()
    entry.refresh_from_db()
    assert entry.status == WaitlistEntry.Status.BOOKED


def test_the_next_page_link_keeps_the_filters(client, front_desk_user):
    WaitlistEntryFactory.create_batch(30, urgent=True)
    client.force_login(front_desk_user)
    response = client.get(reverse("waitlist:list"), {"urgent": "on", "q": ""})
    before_next = response.content.decode().split('rel="next"')[0]
    next_link = before_next.rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    assert "page=2" in next_link
    assert "urgent=on" in next_link
    second = client.get(reverse("waitlist:list") + next_link)
    assert second.status_code == 200
    assert second.context["page"].number == 2
    assert second.context["filters"].cleaned_data["urgent"] is True


# --- a phone that belongs to someone else -------------------------------------------
def _new_patient(**extra):
    return {"first_name": "Leo", "last_name": "Lopez", "phone": "(312) 555-0142",
            "preferred_language": "en", "any_provider": "on", "boost": 0, **extra}


def test_a_phone_belonging_to_someone_else_asks_who_the_visit_is_for(client, front_desk_user):
    owner = PatientFactory(first_name="Ana", last_name="Lopez", phone="+13125550142")
    client.force_login(front_desk_user)

    response = client.post(reverse("waitlist:add"), _new_patient())

    # Before: filed under Ana, the typed name "Leo" silently dropped.
    page = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="phone-owner"' in page
    assert "This number belongs to Ana Lopez" in page
    assert "Same person: add to Ana Lopez&#x27;s record" in page
    assert "A family member sharing this phone: add the entry under Ana Lopez&#x27;s record, " \
           "for Leo Lopez" in page
    assert "Cancel" in page
    assert not WaitlistEntry.objects.exists()
    assert Patient.objects.get() == owner


def test_a_family_member_sharing_the_phone_is_added_under_that_record_for_the_typed_name(
        client, front_desk_user):
    owner = PatientFactory(first_name="Ana", last_name="Lopez", phone="+13125550142")
    WaitlistEntryFactory(patient=owner)  # Ana waits too, for the same kind of visit
    client.force_login(front_desk_user)

    response = client.post(reverse("waitlist:add"), _new_patient(phone_owner="family"))

    assert response.status_code == 302
    entry = WaitlistEntry.objects.get(for_name="Leo Lopez")
    assert entry.patient == owner
    assert Patient.objects.count() == 1
    assert "family member" in entry.history.earliest().history_change_reason
    listing = client.get(reverse("waitlist:list")).content.decode()
    assert "Leo Lopez" in listing
    assert "on Ana Lopez's phone" in listing
    patient_page = client.get(reverse("portal:patient", args=[owner.pk])).content.decode()
    assert "Leo Lopez" in patient_page


def test_the_same_person_under_another_spelling_is_added_to_their_record(
        client, front_desk_user):
    owner = PatientFactory(first_name="Ana", last_name="Lopez", phone="+13125550142")
    client.force_login(front_desk_user)

    client.post(reverse("waitlist:add"), _new_patient(first_name="Anita",
                                                      phone_owner="same"))

    entry = WaitlistEntry.objects.get()
    assert (entry.patient, entry.for_name) == (owner, "")
    # The typed name is kept, in the audit trail.
    assert "'Anita Lopez'" in entry.history.earliest().history_change_reason


def test_a_matching_name_needs_no_question(client, front_desk_user):
    owner = PatientFactory(first_name="María", last_name="Núñez", phone="+13125550142")
    client.force_login(front_desk_user)

    response = client.post(reverse("waitlist:add"),
                           _new_patient(first_name="maria", last_name="nunez"))

    assert response.status_code == 302
    assert WaitlistEntry.objects.get().patient == owner


def test_adding_the_same_visit_twice_is_a_form_error_pointing_at_the_first(
        client, front_desk_user):
    entry = WaitlistEntryFactory(patient=PatientFactory(first_name="Leo", last_name="Lopez",
                                                        phone="+13125550142"))
    client.force_login(front_desk_user)

    response = client.post(reverse("waitlist:add"), _new_patient())

    page = response.content.decode()
    assert "Leo Lopez already waits for this visit" in page
    assert reverse("waitlist:edit", args=[entry.pk]) in page
    assert WaitlistEntry.objects.count() == 1


def test_the_list_shows_when_a_patient_waits_for_two_visits(client, front_desk_user):
    from clinic.tests.factories import AppointmentTypeFactory

    first = WaitlistEntryFactory()
    WaitlistEntryFactory(patient=first.patient, appointment_type=AppointmentTypeFactory())
    client.force_login(front_desk_user)

    page = client.get(reverse("waitlist:list")).content.decode()

    assert page.count("1 of 2 visits") == 2

"""The Rules page (managers) and Today's approval and staff-picks controls."""

import datetime as dt

import pytest
from django.urls import reverse

from clinic.tests.factories import AppointmentTypeFactory, LocationFactory, ProviderFactory
from messaging.models import Message
from offers.models import Offer, OfferRule, Slot
from offers.replies import handle_reply
from offers.tests.conftest import live, open_slot, waitlist

pytestmark = pytest.mark.django_db

RULES = reverse("portal:rules")
NEW_RULE = reverse("portal:rule_create")


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture(autouse=True)
def console_sms(settings):
    settings.SMS_BACKEND = "console"


@pytest.fixture
def visit(db):
    return AppointmentTypeFactory(code="neuro-new", name="New neurology visit")


def _rule_post(**fields):
    data = {"provider": "", "appointment_type": "", "location": "", "offer_by_text": "on",
            "booking_mode": "automatic", "min_lead_minutes": "", "max_lead_hours": "",
            "batch_size": "", "hold_minutes": "", "texting_from": "", "texting_until": ""}
    data.update(fields)
    return data


def test_front_desk_cannot_see_or_change_rules(client, front_desk_user):
    client.force_login(front_desk_user)
    assert client.get(RULES).status_code == 403
    assert client.post(NEW_RULE, _rule_post()).status_code == 403
    assert not OfferRule.objects.exists()


def test_a_manager_adds_a_rule_and_the_change_is_audited(client, manager_user, visit):
    client.force_login(manager_user)
    response = client.post(NEW_RULE, _rule_post(appointment_type=visit.pk,
                                                booking_mode="approval",
                                                min_lead_minutes="4320"))
    assert response.status_code == 302
    rule = OfferRule.objects.get()
    assert rule.booking_mode == "approval"
    assert rule.min_lead_minutes == 4320
    change = rule.history.get()
    assert change.history_user == manager_user
    assert change.history_change_reason == "Rule added"
    page = client.get(RULES)
    assert "New neurology visit" in page.content.decode()
    assert "Rule added" in page.content.decode()

    # Changed, then deleted: both in the audit.
    client.post(reverse("portal:rule_edit", args=[rule.pk]),
                _rule_post(appointment_type=visit.pk, booking_mode="staff_picks"))
    client.post(reverse("portal:rule_delete", args=[rule.pk]))
    assert not OfferRule.objects.exists()
    reasons = list(OfferRule.history.order_by("history_date")
                   .values_list("history_change_reason", "history_user"))
    assert reasons == [("Rule added", manager_user.pk), ("Rule changed", manager_user.pk),
                       ("Rule deleted", manager_user.pk)]


@pytest.mark.parametrize(("fields", "error"), [
    ({"texting_from": "07:00", "texting_until": "20:00"}, "within 8:00 AM"),
    ({"texting_from": "09:00", "texting_until": "21:30"}, "within 8:00 AM"),
    ({"texting_from": "12:00", "texting_until": "10:00"}, "must end after"),
    ({"texting_from": "09:00"}, "both ends"),
    ({"min_lead_minutes": "600", "max_lead_hours": "5"}, "longer than the minimum"),
    ({"batch_size": "0"}, "Between 1 and"),
    ({"hold_minutes": "0"}, "between 1 minute"),
    ({"booking_mode": "sometimes"}, "Select a valid choice"),
])
def test_bad_rules_are_refused_with_a_clear_error(client, manager_user, fields, error):
    client.force_login(manager_user)
    response = client.post(NEW_RULE, _rule_post(**fields))
    assert response.status_code == 400
    assert error in response.content.decode()
    assert not OfferRule.objects.exists()


def test_a_second_rule_for_the_same_scope_is_refused(client, manager_user, visit):
    client.force_login(manager_user)
    OfferRule.objects.create(appointment_type=visit)
    response = client.post(NEW_RULE, _rule_post(appointment_type=visit.pk))
    assert response.status_code == 400
    assert "already exists" in response.content.decode()


def test_the_preview_says_which_rule_applies_to_a_slot(client, manager_user, visit):
    client.force_login(manager_user)
    location = LocationFactory(name="North", time_zone="America/New_York")
    provider = ProviderFactory(name="Dr. Rule", location=location)
    OfferRule.objects.create(appointment_type=visit, booking_mode="approval")
    OfferRule.objects.create(provider=provider, appointment_type=visit, offer_by_text=False)
    page = client.get(RULES, {"preview-provider": provider.pk, "preview-appointment_type": visit.pk},
                      headers={"HX-Request": "true", "HX-Target": "rule-preview"})
    text = page.content.decode()
    assert "Dr. Rule · New neurology visit · All locations" in text
    assert "Not offered by text" in text
    assert "America/New_York" in text
    other = client.get(RULES, {"preview-provider": ProviderFactory().pk,
                               "preview-appointment_type": visit.pk}).content.decode()
    assert "a YES reserves it until staff approve" in other
    # Bad input: a form error, not a 500.
    assert client.get(RULES, {"preview-provider": "nope"}).status_code == 200


@pytest.fixture
def pending(provider, visit, commit):
    OfferRule.objects.create(appointment_type=visit, booking_mode="approval")
    waitlist(3)
    with commit():
        slot = open_slot(provider, appointment_type=visit)
    offer = live(slot)[0]
    with commit():
        handle_reply(patient=offer.patient, intent="yes")
    return slot, offer


def test_today_lists_pending_bookings_first_with_approve_and_decline(client, front_desk_user,
                                                                      pending, settings):
    slot, offer = pending
    client.force_login(front_desk_user)
    text = client.get(reverse("portal:today")).content.decode()
    assert "Bookings awaiting approval" in text
    assert text.index("Bookings awaiting approval") < text.index(f'id="slot-{slot.pk}"')
    assert f'id="approve-{offer.pk}"' in text
    assert "waiting 0 min" in text
    assert "overdue" not in text
    Offer.objects.filter(pk=offer.pk).update(
        reserved_at=offer.slot.created_at - dt.timedelta(minutes=settings.APPROVAL_ALERT_MINUTES))
    assert "overdue" in client.get(reverse("portal:today")).content.decode()


def test_approving_on_today_fills_the_slot(client, front_desk_user, pending,
                                           django_capture_on_commit_callbacks):
    slot, offer = pending
    client.force_login(front_desk_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("portal:booking_approve", args=[offer.pk]))
    assert response.status_code == 302
    slot.refresh_from_db()
    assert slot.status == Slot.Status.FILLED
    assert Message.objects.filter(patient=offer.patient, kind="confirmation").count() == 1
    # A second click (another member of staff) says so, and changes nothing.
    again = client.post(reverse("portal:booking_approve", args=[offer.pk]), follow=True)
    assert "already approved" in again.content.decode()
    assert Message.objects.filter(patient=offer.patient, kind="confirmation").count() == 1


def test_declining_on_today_tells_the_patient(client, front_desk_user, pending,
                                              django_capture_on_commit_callbacks):
    slot, offer = pending
    client.force_login(front_desk_user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("portal:booking_decline", args=[offer.pk]),
                    headers={"HX-Request": "true"})
    assert Offer.objects.get(pk=offer.pk).status == Offer.Status.DECLINED
    assert Message.objects.filter(patient=offer.patient, kind="booking_declined").exists()


def test_an_unknown_booking_is_a_clear_message_not_a_500(client, front_desk_user):
    client.force_login(front_desk_user)
    response = client.post(reverse("portal:booking_approve", args=[999999]), follow=True)
    assert response.status_code == 200
    assert "no such booking" in response.content.decode()


def test_staff_tick_who_is_texted_on_today(client, front_desk_user, provider, commit):
    OfferRule.objects.create(provider=provider, booking_mode="staff_picks")
    entries = waitlist(4)
    with commit():
        slot = open_slot(provider)
    client.force_login(front_desk_user)
    text = client.get(reverse("portal:today")).content.decode()
    assert "Staff picks: tick who is texted" in text
    assert text.index(f"pick-{slot.pk}-{entries[0].pk}") < text.index(
        f"pick-{slot.pk}-{entries[1].pk}")
    with commit():
        client.post(reverse("portal:slot_offer_picked", args=[slot.pk]),
                    {"entry": [entries[2].pk, "junk"]})
    assert [o.entry_id for o in live(slot)] == [entries[2].pk]
    # Nobody ticked: a clear message.
    response = client.post(reverse("portal:slot_offer_picked", args=[slot.pk]), follow=True)
    assert response.status_code == 200


def test_reports_count_pending_and_approved_bookings(client, manager_user, pending, commit,
                                                     front_desk_user):
    from django.utils import timezone

    from offers import approval

    slot, offer = pending
    # The report counts slots of this week and earlier ones: make it start soon.
    soon = timezone.now() + dt.timedelta(minutes=90)
    Slot.objects.filter(pk=slot.pk).update(start=soon, end=soon + dt.timedelta(minutes=20))
    client.force_login(manager_user)
    text = client.get(reverse("portal:reports")).content.decode()
    assert "Bookings approved by staff (1 awaiting approval, 0 declined)" in text
    with commit():
        approval.booking_approve(offer_id=offer.pk, by=front_desk_user)
    text = client.get(reverse("portal:reports")).content.decode()
    assert "Bookings approved by staff (0 awaiting approval, 0 declined)" in text


def test_a_fhir_cancellation_for_a_visit_type_never_offered_shows_not_offered(
        client, front_desk_user, provider, visit, commit):
    OfferRule.objects.create(appointment_type=visit, offer_by_text=False)
    waitlist(2)
    with commit():
        slot = open_slot(provider, appointment_type=visit, source=Slot.Source.EHR)
    client.force_login(front_desk_user)
    text = client.get(reverse("portal:today")).content.decode()
    assert "Not offered by rule" in text
    assert not Offer.objects.filter(slot=slot).exists()

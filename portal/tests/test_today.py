import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from messaging.models import Message
from offers.models import Offer, Slot
from offers.tests.factories import OfferFactory, SlotFactory
from waitlist.tests.factories import WaitlistEntryFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def always_texting_hours(settings):
    settings.SMS_SEND_HOURS = (dt.time(0, 0), None)


def _form(provider, when, **extra):
    local = timezone.localtime(when)
    return {"provider": provider.pk, "date": local.date().isoformat(),
            "time": local.strftime("%H:%M"), "duration": 20, **extra}


def _tomorrow_at(hour):
    return (timezone.localtime() + dt.timedelta(days=1)).replace(
        hour=hour, minute=0, second=0, microsecond=0)


def test_recording_a_cancellation_opens_the_slot_and_offers_it(
        client, front_desk_user, provider, django_capture_on_commit_callbacks):
    WaitlistEntryFactory.create_batch(4)
    client.force_login(front_desk_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("portal:slot_create"),
                               _form(provider, _tomorrow_at(10)))
    assert response.status_code == 302
    slot = Slot.objects.get()
    assert slot.provider == provider
    assert slot.end - slot.start == dt.timedelta(minutes=20)
    assert slot.recorded_by == front_desk_user
    assert slot.offers.count() == 3
    page = client.get(reverse("portal:today")).content.decode()
    assert page.count('class="offer"') == 3


def test_a_slot_in_the_past_is_refused_with_a_message(client, front_desk_user, provider):
    client.force_login(front_desk_user)
    response = client.post(reverse("portal:slot_create"),
                           _form(provider, timezone.now() - dt.timedelta(hours=2)))
    assert response.status_code == 400
    assert "already passed" in response.content.decode()
    assert not Slot.objects.exists()


def test_duration_must_make_the_slot_end_after_it_starts(client, front_desk_user, provider):
    client.force_login(front_desk_user)
    response = client.post(reverse("portal:slot_create"),
                           _form(provider, _tomorrow_at(10), duration=0))
    assert response.status_code == 400
    assert not Slot.objects.exists()


def test_a_duplicate_slot_is_warned_about_and_recorded_only_when_confirmed(
        client, front_desk_user, provider):
    start = _tomorrow_at(11)
    SlotFactory(provider=provider, start=start, end=start + dt.timedelta(minutes=20))
    client.force_login(front_desk_user)
    response = client.post(reverse("portal:slot_create"), _form(provider, start))
    assert response.status_code == 400
    assert "already has a freed slot" in response.content.decode()
    assert 'name="record_duplicate"' in response.content.decode()
    assert Slot.objects.count() == 1
    response = client.post(reverse("portal:slot_create"),
                           _form(provider, start, record_duplicate="on"))
    assert response.status_code == 302
    assert Slot.objects.count() == 2


def test_htmx_recording_answers_with_a_fresh_form_and_refreshes_the_list(
        client, front_desk_user, provider):
    client.force_login(front_desk_user)
    response = client.post(reverse("portal:slot_create"), _form(provider, _tomorrow_at(9)),
                           HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response["HX-Trigger"] == '{"slotsChanged": {}}' or "slotsChanged" in response[
        "HX-Trigger"]
    body = response.content.decode()
    assert body.lstrip().startswith('<form id="record-form"')
    assert "<html" not in body


def test_polling_renders_only_the_slot_list(client, front_desk_user):
    SlotFactory()
    client.force_login(front_desk_user)
    response = client.get(reverse("portal:today"), HTTP_HX_REQUEST="true",
                          HTTP_HX_TARGET="slots")
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="slots"')
    assert 'hx-trigger="every 3s' in body
    assert "<html" not in body


def test_today_shows_hold_countdowns_and_the_winner(client, front_desk_user):
    live = OfferFactory(status=Offer.Status.SENT,
                        hold_until=timezone.now() + dt.timedelta(minutes=7))
    filled = SlotFactory(status=Slot.Status.FILLED, filled_via=Slot.FilledVia.SMS)
    winner = OfferFactory(slot=filled, status=Offer.Status.ACCEPTED)
    filled.filled_entry = winner.entry
    filled.save()
    client.force_login(front_desk_user)
    page = client.get(reverse("portal:today")).content.decode()
    assert f'data-until="{int(live.hold_until.timestamp())}"' in page
    assert "Sent, on hold" in page
    assert f"Filled by <a href=\"{reverse('portal:patient', args=[winner.patient_id])}\"" in page


def test_staff_withdraw_a_slot_and_its_offers_close(client, front_desk_user):
    offer = OfferFactory(status=Offer.Status.SENT,
                         hold_until=timezone.now() + dt.timedelta(minutes=7))
    client.force_login(front_desk_user)
    response = client.post(reverse("portal:slot_withdraw", args=[offer.slot_id]),
                           HTTP_HX_REQUEST="true", HTTP_HX_TARGET="slots")
    assert response.status_code == 200
    offer.refresh_from_db()
    assert offer.slot.status == Slot.Status.WITHDRAWN
    assert offer.status == Offer.Status.SUPERSEDED
    assert "withdrawn" in response.content.decode()


def test_staff_mark_a_slot_filled_by_phone_with_an_offered_patient(client, front_desk_user):
    offer = OfferFactory(status=Offer.Status.SENT,
                         hold_until=timezone.now() + dt.timedelta(minutes=7))
    client.force_login(front_desk_user)
    response = client.post(reverse("portal:slot_mark_filled", args=[offer.slot_id]),
                           {"offer": offer.pk})
    assert response.status_code == 302
    slot = Slot.objects.get(pk=offer.slot_id)
    assert slot.status == Slot.Status.FILLED
    assert slot.filled_via == Slot.FilledVia.PHONE
    assert slot.filled_entry == offer.entry


def test_filling_an_already_filled_slot_says_so_and_changes_nothing(client, front_desk_user):
    slot = SlotFactory(status=Slot.Status.FILLED, filled_via=Slot.FilledVia.SMS)
    client.force_login(front_desk_user)
    response = client.post(reverse("portal:slot_mark_filled", args=[slot.pk]), follow=True)
    assert "already filled" in response.content.decode()
    slot.refresh_from_db()
    assert slot.filled_via == Slot.FilledVia.SMS


def test_offer_to_more_sends_another_batch(client, front_desk_user, provider,
                                          django_capture_on_commit_callbacks):
    slot = SlotFactory(provider=provider, current_batch=1)
    WaitlistEntryFactory.create_batch(2)
    client.force_login(front_desk_user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("portal:slot_offer_more", args=[slot.pk]))
    assert slot.offers.count() == 2


def test_the_dashboard_shows_an_sms_outage_and_clears_it_when_texts_flow_again(
        client, front_desk_user):
    from messaging.models import Message

    client.force_login(front_desk_user)
    assert b'data-testid="send-trouble"' not in client.get(reverse("portal:today")).content
    failed = Message.objects.create(
        direction="out", from_number="+15005550006", to_number="+13125550142", body="x",
        kind="offer", status=Message.Status.FAILED, error_code="20500",
        error_message="Twilio internal error", attempts=6)
    response = client.get(reverse("portal:today"), headers={"HX-Request": "true",
                                                            "HX-Target": "slots"})
    assert b'data-testid="send-trouble"' in response.content
    assert b"20500 Twilio internal error" in response.content
    Message.objects.filter(pk=failed.pk).update(
        updated_at=timezone.now() - dt.timedelta(hours=1))
    assert b'data-testid="send-trouble"' not in client.get(reverse("portal:today")).content


def test_a_slot_recorded_outside_texting_hours_says_it_waits_for_them(
        client, front_desk_user, provider, settings, django_capture_on_commit_callbacks):
    WaitlistEntryFactory.create_batch(2)
    # A one-hour texting window half a day away: now is outside it, whatever the hour.
    opens = (timezone.localtime().hour + 12) % 24
    settings.SMS_SEND_HOURS = (dt.time(opens), dt.time(opens + 1) if opens < 23 else None)
    client.force_login(front_desk_user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("portal:slot_create"), _form(provider, _tomorrow_at(10)))
    assert not Offer.objects.exists()
    page = client.get(reverse("portal:today")).content.decode()
    assert 'data-testid="waits-for-hours"' in page
    assert "Waiting for texting hours" in page


def test_a_slot_too_soon_to_text_is_warned_about_before_it_is_recorded(
        client, front_desk_user, provider, django_capture_on_commit_callbacks):
    WaitlistEntryFactory.create_batch(3)
    client.force_login(front_desk_user)
    soon = timezone.now() + dt.timedelta(minutes=40)

    response = client.post(reverse("portal:slot_create"), _form(provider, soon))

    # Before: recorded with "Offers are going out", then red "Unfilled" with no reason.
    page = response.content.decode()
    assert response.status_code == 400
    assert "too soon to offer by text" in page
    assert 'name="record_too_soon"' in page
    assert not Slot.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("portal:slot_create"),
                               _form(provider, soon, record_too_soon="on"), follow=True)
    page = response.content.decode()
    assert "too soon to offer by text: call patients" in page
    assert "Offers are going out" not in page
    slot = Slot.objects.get()
    assert slot.status == Slot.Status.UNFILLED
    assert not slot.offers.exists()
    # The card says why nobody was asked.
    card = client.get(reverse("portal:today")).content.decode()
    assert 'data-testid="unfilled-why"' in card
    assert "Starts too soon to offer by text: nobody was texted" in card
    assert "Nobody on the waitlist took it" not in card


def test_a_slot_waiting_for_busy_patients_says_so_on_the_today_page(
        client, front_desk_user, provider, django_capture_on_commit_callbacks):
    WaitlistEntryFactory.create_batch(3)
    client.force_login(front_desk_user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("portal:slot_create"), _form(provider, _tomorrow_at(10)))
        client.post(reverse("portal:slot_create"), _form(provider, _tomorrow_at(11)))

    page = client.get(reverse("portal:today")).content.decode()

    assert page.count('data-testid="waits-for-patients"') == 1
    assert "Waiting: its patients hold other offers." in page
    waiting = Slot.objects.get(waiting_for=Slot.WaitingFor.BUSY_PATIENTS)
    card = page[page.index(f'id="slot-{waiting.pk}"'):]
    card = card[:card.index("</article>")]
    assert "waits-for-patients" in card
    assert "attention" not in page[page.rindex("<article", 0, page.index(
        f'id="slot-{waiting.pk}"')):page.index(f'id="slot-{waiting.pk}"')]


def test_an_unfilled_slot_says_whether_nobody_fitted_or_nobody_took_it(
        client, front_desk_user, provider, django_capture_on_commit_callbacks):
    client.force_login(front_desk_user)
    SlotFactory(provider=provider, status=Slot.Status.UNFILLED,
                unfilled_reason=Slot.UnfilledReason.NOBODY_FITS)
    SlotFactory(provider=provider, start=_tomorrow_at(15) + dt.timedelta(days=1),
                status=Slot.Status.UNFILLED,
                unfilled_reason=Slot.UnfilledReason.NOBODY_TOOK_IT, current_batch=2)

    page = client.get(reverse("portal:today")).content.decode()

    assert "Nobody on the waitlist fits it, so nobody was texted" in page
    assert "Everyone on the waitlist who fits was offered it; nobody took it" in page


def test_filled_by_phone_asks_first_has_a_visible_label_and_offers_an_undo(
        client, front_desk_user, django_capture_on_commit_callbacks):
    offer = OfferFactory(status=Offer.Status.SENT,
                         hold_until=timezone.now() + dt.timedelta(minutes=7))
    client.force_login(front_desk_user)
    page = client.get(reverse("portal:today")).content.decode()
    form = page[page.index('class="inline-form phone-fill"'):]
    form = form[:form.index("</form>")]
    assert 'hx-confirm="Mark this slot filled by phone?' in form
    assert f'<label for="filled-who-{offer.slot_id}">Booked by phone:</label>' in form
    assert "visually-hidden" not in form

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("portal:slot_mark_filled", args=[offer.slot_id]),
                               {"offer": offer.pk}, follow=True)
    shown = response.content.decode()
    assert "until then you can undo it" in shown
    assert "Undo filled by phone" in shown
    assert not Message.objects.exclude(kind="offer").exists()  # nobody texted yet

    response = client.post(reverse("portal:slot_fill_undo", args=[offer.slot_id]),
                           follow=True)
    assert "filled by phone undone" in response.content.decode()
    offer.refresh_from_db()
    assert offer.slot.status == Slot.Status.OFFERING
    assert offer.status == Offer.Status.SENT


def test_an_undo_after_the_window_is_refused_with_a_reason(client, front_desk_user, settings):
    offer = OfferFactory(status=Offer.Status.SENT,
                         hold_until=timezone.now() + dt.timedelta(minutes=7))
    client.force_login(front_desk_user)
    client.post(reverse("portal:slot_mark_filled", args=[offer.slot_id]))
    settings.PHONE_FILL_UNDO_SECONDS = 0
    page = client.get(reverse("portal:today")).content.decode()
    assert "Undo filled by phone" not in page
    assert "by someone not offered · Staff, by phone" in " ".join(page.split())
    response = client.post(reverse("portal:slot_fill_undo", args=[offer.slot_id]),
                           follow=True)
    assert "can no longer be undone" in response.content.decode()
    assert Slot.objects.get(pk=offer.slot_id).status == Slot.Status.FILLED

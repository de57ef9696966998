"""The messaging admin: every model is there, read-only (the log is evidence)."""

import pytest
from django.urls import reverse

from messaging.models import Message, MessageStatusEvent, OptedOutNumber

pytestmark = pytest.mark.django_db


@pytest.fixture
def event():
    message = Message.objects.create(direction="out", from_number="+13125550100",
                                     to_number="+13125550142", body="hello", status="sent")
    return MessageStatusEvent.objects.create(message=message, status="failed",
                                             error_code="30003")


def test_status_events_can_be_read_but_not_edited_or_deleted(client, admin_user, event):
    client.force_login(admin_user)
    change_url = reverse("admin:messaging_messagestatusevent_change", args=[event.pk])

    listing = client.get(reverse("admin:messaging_messagestatusevent_changelist"))
    assert listing.status_code == 200
    assert "30003" in listing.content.decode()
    assert client.get(change_url).status_code == 200
    assert client.post(change_url, {"status": "delivered"}).status_code == 403
    assert client.post(reverse("admin:messaging_messagestatusevent_delete", args=[event.pk]),
                       {"post": "yes"}).status_code == 403
    event.refresh_from_db()
    assert event.status == "failed"


def test_opted_out_numbers_are_listed_masked_and_cannot_be_removed_by_staff(
        client, admin_user):
    number = OptedOutNumber.objects.create(phone="+13125550177")
    client.force_login(admin_user)

    listing = client.get(reverse("admin:messaging_optedoutnumber_changelist")).content.decode()
    assert "+1******0177" in listing
    assert "5550177" not in listing
    assert client.post(reverse("admin:messaging_optedoutnumber_delete", args=[number.pk]),
                       {"post": "yes"}).status_code == 403
    assert OptedOutNumber.objects.filter(pk=number.pk).exists()

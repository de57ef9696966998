"""The offer engine's side of the SMS channel: its templates, the kind its offer texts are
logged under, and which offer a message is about (messaging stores that as the message's
generic subject and never looks inside)."""

from django.contrib.contenttypes.models import ContentType
from django.db.models import QuerySet

from messaging.models import Message
from messaging.rendering import templates_register as _register

# The message kind (and template) of the text that offers a slot.
OFFER_KIND = "offer"
# What an offer's patient is told when it ended before they took it.
OFFER_ENDED_KINDS = ("offer_closed", "offer_closed_off_waitlist")

TEMPLATES = (
    OFFER_KIND, "confirmation", "already_filled", "offer_expired", "declined",
    "offer_closed", "offer_closed_off_waitlist", "offer_details", "offer_confirm",
    "thanks_reply", "other_language", "who_we_are", "call_us", "declined_later",
    # Bookings that staff approve (offers/approval.py, docs/rules.md).
    "booking_pending", "booking_pending_next", "next_in_line", "booking_declined",
)
# The offer must be one segment: a patient deciding in minutes should get it whole, and it
# goes to many patients. The others may take the channel's default, two.
SEGMENT_BUDGET = {OFFER_KIND: 1}


def templates_register() -> None:
    _register(TEMPLATES, segment_budget=SEGMENT_BUDGET)


def _offer_type() -> ContentType:
    from offers.models import Offer

    return ContentType.objects.get_for_model(Offer)


def offer_id_of(message: Message) -> int | None:
    """The offer this message is about, if it is about one."""
    if message.subject_id is None or message.subject_type_id is None:
        return None
    return message.subject_id if message.subject_type_id == _offer_type().pk else None


def offer_texts(offer_id) -> QuerySet:
    """The offer texts sent (or being sent) for this offer; `offer_id` may be an OuterRef."""
    return Message.objects.filter(subject_type=_offer_type(), subject_id=offer_id,
                                  kind=OFFER_KIND, direction=Message.Direction.OUT)


def messages_about(offer_id) -> QuerySet:
    """Every message about this offer (its texts, the answers, the replies)."""
    return Message.objects.filter(subject_type=_offer_type(), subject_id=offer_id)


def on_offer_deleted(sender, *, instance, **kwargs) -> None:
    """A deleted offer's messages stay in the log, unlinked (see offers.models.KeptMessages)."""
    messages_about(instance.pk).update(subject_type=None, subject_id=None)

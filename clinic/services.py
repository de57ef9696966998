"""Writes on the clinic's reference data that several apps share."""

from django.db import IntegrityError, transaction

from clinic.audit import save_with_reason
from clinic.models import Patient


def patient_find_or_create(*, phone: str, first_name: str, last_name: str,
                           preferred_language: str, reason: str,
                           offer_channel: str = Patient.OfferChannel.SMS) -> Patient:
    """The patient with this phone (E.164: one number, one patient record, which inbound
    SMS finds them by), else a new one with these details, saved with `reason` for the
    audit trail. An existing record is matched, never changed: the clinic's own record
    wins. Two of these at once for one new phone: the unique phone decides, and the
    loser finds the winner's record."""
    patient = Patient.objects.filter(phone=phone).first()
    if patient is not None:
        return patient
    patient = Patient(phone=phone, first_name=first_name, last_name=last_name,
                      preferred_language=preferred_language, offer_channel=offer_channel)
    try:
        with transaction.atomic():
            save_with_reason(patient, reason)
    except IntegrityError:
        return Patient.objects.get(phone=phone)
    return patient


def patient_set_offer_channel(*, patient: Patient, offer_channel: str, reason: str,
                              by=None) -> bool:
    """Offers to the patient go by text, by call, or a text then a call. Audited with
    `reason` (staff on the patient page, or Twilio reporting a number that cannot take
    texts). True if it changed."""
    if offer_channel not in Patient.OfferChannel.values:
        raise ValueError(f"Unknown offer channel {offer_channel!r}.")
    with transaction.atomic():
        locked = Patient.objects.select_for_update().get(pk=patient.pk)
        if locked.offer_channel == offer_channel:
            return False
        locked.offer_channel = offer_channel
        save_with_reason(locked, reason, by, update_fields=["offer_channel", "updated_at"])
        patient.offer_channel = offer_channel
    return True

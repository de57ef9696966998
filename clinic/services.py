"""Writes on the clinic's reference data that several apps share."""

from django.db import IntegrityError, transaction

from clinic.audit import save_with_reason
from clinic.models import Patient


def patient_find_or_create(*, phone: str, first_name: str, last_name: str,
                           preferred_language: str, reason: str) -> Patient:
    """The patient with this phone (E.164: one number, one patient record, which inbound
    SMS finds them by), else a new one with these details, saved with `reason` for the
    audit trail. An existing record is matched, never changed: the clinic's own record
    wins. Two of these at once for one new phone: the unique phone decides, and the
    loser finds the winner's record."""
    patient = Patient.objects.filter(phone=phone).first()
    if patient is not None:
        return patient
    patient = Patient(phone=phone, first_name=first_name, last_name=last_name,
                      preferred_language=preferred_language)
    try:
        with transaction.atomic():
            save_with_reason(patient, reason)
    except IntegrityError:
        return Patient.objects.get(phone=phone)
    return patient

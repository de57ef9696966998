"""Filters for SMS templates: dates and times as a patient reads them, in their language.

Written out by hand rather than through Django's locale formats so that the Spanish text
stays inside the GSM-7 alphabet where it can (one SMS segment holds 160 GSM-7 characters
but only 70 UCS-2 ones).
"""

import datetime as dt
import zoneinfo

from django import template
from django.conf import settings
from django.utils import translation

register = template.Library()

ES_MONTHS = ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
             "septiembre", "octubre", "noviembre", "diciembre"]


def _local(value: dt.datetime) -> dt.datetime:
    """In CLINIC_TIME_ZONE, unless the sender already gave the time in a named zone
    (a slot at a location with its own time zone: offers.rules.local_start)."""
    if isinstance(value.tzinfo, zoneinfo.ZoneInfo) and value.tzinfo.key != "UTC":
        return value
    return value.astimezone(zoneinfo.ZoneInfo(settings.CLINIC_TIME_ZONE))


def _clock(local: dt.datetime, *, spanish: bool) -> str:
    hour = local.hour % 12 or 12
    suffix = ("a.m." if local.hour < 12 else "p.m.") if spanish else (
        "AM" if local.hour < 12 else "PM")
    return f"{hour}:{local.minute:02d} {suffix}"


@register.filter
def sms_when(value: dt.datetime) -> str:
    """'Tue Mar 4, 10:20 AM' / '4 de marzo, 10:20 a.m.' in CLINIC_TIME_ZONE.

    Spanish leaves out the weekday: "sábado" alone would turn the text into UCS-2.
    """
    if not isinstance(value, dt.datetime):
        return ""
    local = _local(value)
    if (translation.get_language() or "en").startswith("es"):
        return f"{local.day} de {ES_MONTHS[local.month - 1]}, {_clock(local, spanish=True)}"
    return f"{local:%a %b} {local.day}, {_clock(local, spanish=False)}"

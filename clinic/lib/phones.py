"""Phone numbers: stored in E.164, shown and logged masked."""

import re

import phonenumbers

DEFAULT_REGION = "US"


class InvalidPhoneNumber(ValueError):
    pass


def phone_to_e164(raw: str, *, region: str = DEFAULT_REGION) -> str:
    """Parse what a person typed ("(312) 555-0142", "+1 312 555 0142") into E.164.

    Raises InvalidPhoneNumber when phonenumbers does not accept it as a valid number.
    """
    if raw is None or not str(raw).strip():
        raise InvalidPhoneNumber("A phone number is required.")
    text = str(raw).strip()
    if len(text) > 40:
        raise InvalidPhoneNumber("That phone number is too long.")
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(f"'{text}' is not a phone number.") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumber(f"'{text}' is not a valid phone number.")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def mask_phone(number: str) -> str:
    """+13125550142 -> +1******0142: enough to tell numbers apart in a log, not to dial."""
    if not number:
        return ""
    digits = re.sub(r"\D", "", number)
    if len(digits) <= 4:
        return "*" * len(digits)
    country = digits[:1] if number.startswith("+") else ""
    hidden = len(digits) - len(country) - 4
    return f"{'+' if number.startswith('+') else ''}{country}{'*' * hidden}{digits[-4:]}"


def display_phone(number: str) -> str:
    """E.164 to the national format a front-desk person reads: (312) 555-0142."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return number
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)

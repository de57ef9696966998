"""A logging filter that masks phone numbers in every record, whoever logs them."""

import logging
import re

from clinic.lib.phones import mask_phone

# Long runs of digits with optional separators: E.164 and national formats alike.
PHONE_PATTERN = re.compile(r"\+?\d[\d\s().-]{8,}\d")


def mask_phones_in(text: str) -> str:
    return PHONE_PATTERN.sub(lambda m: mask_phone(m.group(0)), text)


class MaskPhoneNumbers(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_phones_in(message)
        if masked != message:
            record.msg = masked
            record.args = None
        return True

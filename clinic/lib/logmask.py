"""A logging filter that masks phone numbers in every record, whoever logs them."""

import logging
import re

from clinic.lib.phones import mask_phone

# Long runs of digits with optional separators: E.164 and national formats alike.
PHONE_PATTERN = re.compile(r"\+?\d[\d\s().-]{8,}\d")
# One dot and nothing else between digits is a decimal number (a task's duration), not a
# phone; masking it would only make logs harder to read.
DECIMAL = re.compile(r"\d+\.\d+")


def _mask(match: re.Match) -> str:
    text = match.group(0)
    return text if DECIMAL.fullmatch(text) else mask_phone(text)


def mask_phones_in(text: str) -> str:
    return PHONE_PATTERN.sub(_mask, text)


class MaskPhoneNumbers(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_phones_in(message)
        if masked != message:
            record.msg = masked
            record.args = None
        return True

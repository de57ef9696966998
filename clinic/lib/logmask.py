"""Logging filters that keep the console readable and private, whoever logs.

MaskPhoneNumbers masks phone numbers in every record; QuietClientErrors keeps the one
line Django writes for an ordinary 4xx (a 403, a 404) and drops its traceback.
"""

import logging
import re

from clinic.lib.phones import mask_phone

# Long runs of digits with optional separators: E.164 and national formats alike. A run
# glued to a letter, digit, hyphen or dot on either side is part of a longer token (a
# Celery task id such as 6d1f2a3b-1234-4567-8901-234567890123, a version, a hash), not a
# phone number, and is left alone.
PHONE_PATTERN = re.compile(r"(?<![\w.-])\+?\d[\d\s().-]{8,}\d(?![\w-]|\.\d)")
# One dot and nothing else between digits is a decimal number (a task's duration), not a
# phone; masking it would only make logs harder to read.
DECIMAL = re.compile(r"\d+\.\d+")
# A UUID made only of digits (rare, but a task id can be one) is still a UUID.
UUID = re.compile(r"\d{8}-\d{4}-\d{4}-\d{4}-\d{12}")


def _mask(match: re.Match) -> str:
    text = match.group(0)
    if DECIMAL.fullmatch(text) or UUID.fullmatch(text):
        return text
    return mask_phone(text)


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


class QuietClientErrors(logging.Filter):
    """django.request logs every 4xx with the exception that caused it (a PermissionDenied
    for an ordinary 403 prints a whole traceback). A refused request is not a fault of the
    code: keep its one line ("Forbidden (Permission denied): /reports/"), drop the
    traceback. 5xx records keep theirs."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if status is not None and 400 <= status < 500:
            record.exc_info = None
            record.exc_text = None
        return True

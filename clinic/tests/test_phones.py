import logging

import pytest

from clinic.lib.logmask import MaskPhoneNumbers
from clinic.lib.phones import InvalidPhoneNumber, mask_phone, phone_to_e164


@pytest.mark.parametrize("raw", ["(312) 555-0142", "312.555.0142", "+1 312 555 0142", "3125550142"])
def test_phone_numbers_are_stored_in_e164(raw):
    assert phone_to_e164(raw) == "+13125550142"


@pytest.mark.parametrize("raw", ["", "hello", "555-0142", "+1 555 555 0100", "9" * 50])
def test_invalid_phone_numbers_are_refused(raw):
    with pytest.raises(InvalidPhoneNumber):
        phone_to_e164(raw)


def test_masking_keeps_country_code_and_last_four():
    assert mask_phone("+13125550142") == "+1******0142"


def test_log_records_never_carry_a_whole_phone_number(caplog):
    logger = logging.getLogger("test.phones")
    logger.addFilter(MaskPhoneNumbers())
    with caplog.at_level(logging.INFO, logger="test.phones"):
        logger.info("sent offer to %s", "+13125550142")
    assert "+13125550142" not in caplog.text
    assert "+1******0142" in caplog.text

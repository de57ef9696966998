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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Task succeeded in 0.0052640002s", "Task succeeded in 0.0052640002s"),
        ("reply from 312.555.0142", "reply from ******0142"),
        ("reply from (312) 555-0142", "reply from (******0142"),
        ("to +13125550142 now", "to +1******0142 now"),
    ],
)
def test_masking_leaves_decimal_numbers_alone_and_hides_phones(text, expected):
    from clinic.lib.logmask import mask_phones_in

    assert mask_phones_in(text) == expected

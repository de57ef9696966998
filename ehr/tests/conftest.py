import pytest

from ehr.models import ApiKey


@pytest.fixture
def api_key(db):
    """(the ApiKey row, the raw key an EHR sends)."""
    return ApiKey.issue(name="Epic test")


@pytest.fixture
def key(api_key):
    return api_key[1]

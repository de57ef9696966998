import pytest

from clinic.tests.factories import AppointmentTypeFactory, ProviderFactory
from conftest import STAFF_PASSWORD


@pytest.fixture
def login(client):
    """login(user) -> the test client signed in as that user."""
    def sign_in(user):
        assert client.login(username=user.username, password=STAFF_PASSWORD,
                            request=None) or client.force_login(user) is None
        return client
    return sign_in


@pytest.fixture
def provider(db):
    return ProviderFactory(name="Dr. Maya Patel")


@pytest.fixture
def follow_up(db):
    return AppointmentTypeFactory()

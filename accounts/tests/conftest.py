from urllib.parse import urlsplit

import pytest
import requests
from django.urls import reverse

from accounts.oidc import forget_provider_config
from accounts.tests.idp import CLIENT_ID, CLIENT_SECRET, Person, TestIdentityProvider

GROUPS = {"waitlist-frontdesk": "Front desk", "waitlist-managers": "Manager",
          "Waitlist Admins": "Admin"}


@pytest.fixture
def idp():
    provider = TestIdentityProvider(people={
        "dana": Person(sub="00u-dana", email="dana@clinic.example", given_name="Dana",
                       family_name="Reyes", groups=["everyone", "waitlist-frontdesk"]),
        "mia": Person(sub="00u-mia", email="mia@clinic.example", given_name="Mia",
                      family_name="Chen", groups=["everyone", "waitlist-managers"]),
        "ola": Person(sub="00u-ola", email="ola@clinic.example", given_name="Ola",
                      family_name="Berg", groups=["Waitlist Admins"]),
        "sam": Person(sub="00u-sam", email="sam@clinic.example", given_name="Sam",
                      family_name="Ortiz", groups=["everyone", "billing"]),
    }, redirect_uris={"http://testserver/accounts/sso/callback/"}).start()
    forget_provider_config()
    yield provider
    provider.stop()
    forget_provider_config()


@pytest.fixture
def sso(settings, idp):
    """Single sign-on configured against the test provider, as the environment would."""
    settings.SSO_ENABLED = True
    settings.OIDC_ISSUER = idp.issuer
    settings.OIDC_ENDPOINTS = dict.fromkeys(settings.OIDC_ENDPOINTS, "")
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_ROLE_CLAIM = "groups"
    settings.OIDC_ROLE_MAP = GROUPS
    settings.OIDC_PROVIDER_NAME = "Test IdP"
    settings.OIDC_PROMPT = "login"
    return idp


def sso_start(client, *, next_url=None):
    """The portal's redirect to the provider's authorization endpoint."""
    response = client.get(reverse("accounts:sso_start"), {"next": next_url} if next_url else {})
    assert response.status_code == 302, response.content.decode()[:500]
    return response["Location"]


def at_provider(authorize_url: str) -> str:
    """The browser at the provider: the callback URL it is sent back to."""
    response = requests.get(authorize_url, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    return response.headers["Location"]


def callback(client, callback_url: str):
    parts = urlsplit(callback_url)
    return client.get(f"{parts.path}?{parts.query}")


def sso_sign_in(client, idp, person: str, *, next_url=None):
    idp.sign_in_as = person
    return callback(client, at_provider(sso_start(client, next_url=next_url)))

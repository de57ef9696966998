"""Sign-ins at the same moment, each in its own thread and database connection."""

import pytest
from django.contrib.auth import get_user_model

from accounts.models import SsoIdentity
from accounts.services import sso_sign_in
from clinic import roles
from clinic.tests.concurrency import run_together

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ISSUER = "https://login.example.org"


def claims(sub, username, groups=("waitlist-managers",)):
    return {"sub": sub, "preferred_username": username, "email": f"{sub}@clinic.example",
            "groups": list(groups)}


@pytest.fixture(autouse=True)
def role_map(settings):
    roles.ensure_roles()
    settings.OIDC_ROLE_CLAIM = "groups"
    settings.OIDC_ROLE_MAP = {"waitlist-managers": roles.MANAGER}


def test_a_new_person_signing_in_many_times_at_once_gets_one_account():
    users = run_together([lambda: sso_sign_in(issuer=ISSUER, claims=claims("u1", "jo"))
                          for _ in range(8)])

    assert len({user.pk for user in users}) == 1
    assert get_user_model().objects.count() == 1
    assert SsoIdentity.objects.count() == 1
    assert roles.user_role(users[0]) == roles.MANAGER


def test_new_people_wanting_the_same_username_at_once_each_get_their_own():
    users = run_together([lambda n=n: sso_sign_in(issuer=ISSUER, claims=claims(f"u{n}", "jo"))
                          for n in range(6)])

    assert len({user.pk for user in users}) == 6
    names = set(get_user_model().objects.values_list("username", flat=True))
    assert names == {"jo", "jo-2", "jo-3", "jo-4", "jo-5", "jo-6"}

"""Sign-in settings are read strictly: a wrong one stops start-up and names itself."""

import pytest

from clinic.tests.test_settings import GOOD_SECRET, run_manage

PRODUCTION = {"SECRET_KEY": GOOD_SECRET, "ALLOWED_HOSTS": "clinic.example.org"}
SSO = {"OIDC_ISSUER": "https://login.example.org/tenant/v2.0", "OIDC_CLIENT_ID": "portal",
       "OIDC_CLIENT_SECRET": "s3cret", "OIDC_ROLE_MAP": "waitlist-managers=manager"}


@pytest.mark.parametrize(("env", "message"), [
    ({"OIDC_ISSUER": "https://login.example.org"},
     "Single sign-on needs OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET together; "
     "missing: OIDC_CLIENT_ID, OIDC_CLIENT_SECRET."),
    ({**SSO, "OIDC_ISSUER": "http://login.example.org"},
     "OIDC_ISSUER='http://login.example.org' must be an https:// address"),
    ({**SSO, "OIDC_TOKEN_ENDPOINT": "http://login.example.org/token"},
     "OIDC_TOKEN_ENDPOINT='http://login.example.org/token' must be an https:// address"),
    ({**SSO, "OIDC_ROLE_MAP": ""}, "OIDC_ROLE_MAP must say which values"),
    ({**SSO, "OIDC_ROLE_MAP": "waitlist-managers=boss"},
     "OIDC_ROLE_MAP: 'waitlist-managers=boss' names the role 'boss'; use one of: front_desk"),
    ({**SSO, "OIDC_ROLE_MAP": "waitlist-managers"},
     "OIDC_ROLE_MAP: 'waitlist-managers' must look like VALUE=ROLE"),
    ({**SSO, "OIDC_ROLE_MAP": "staff=manager,staff=admin"},
     "OIDC_ROLE_MAP: 'staff' is mapped twice"),
    ({**SSO, "OIDC_SCOPES": "email profile"}, "OIDC_SCOPES='email profile' must include openid"),
    ({**SSO, "OIDC_SIGN_ALGORITHM": "HS256"}, "OIDC_SIGN_ALGORITHM='HS256' must be one of"),
    ({**SSO, "OIDC_PROMPT": "none"}, "OIDC_PROMPT='none' must be one of"),
    ({"LOCAL_PASSWORD_SIGN_IN": "false"},
     "LOCAL_PASSWORD_SIGN_IN=false needs single sign-on configured"),
    ({"LOCAL_PASSWORD_SIGN_IN": "nope"}, "LOCAL_PASSWORD_SIGN_IN='nope' is not a boolean"),
    ({"TWO_FACTOR_FRONT_DESK": "sometimes"}, "TWO_FACTOR_FRONT_DESK='sometimes' must be one of"),
])
def test_a_wrong_sign_in_setting_stops_start_up_with_a_clear_message(env, message):
    result = run_manage("check", **PRODUCTION, **env)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr[-2000:]


def test_a_full_sso_setup_with_local_sign_in_off_passes_check_deploy():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION, **{
                        **SSO, "OIDC_ROLE_MAP":"Waitlist Front Desk=front_desk, waitlist-managers=manager,"
                                      "8f1c1e7a-0000-4000-8000-000000000001=admin"},
                        LOCAL_PASSWORD_SIGN_IN="false", BREAK_GLASS_USERNAME="emergency-admin")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_role_map_reads_names_with_spaces_and_group_ids(settings):
    import os

    from clinic.lib.envparse import env_pairs

    os.environ["TEST_ROLE_MAP"] = "Waitlist Front Desk = front_desk ,8f1c=ADMIN,"
    try:
        pairs = env_pairs("TEST_ROLE_MAP", values={"front_desk": "Front desk", "admin": "Admin"})
    finally:
        del os.environ["TEST_ROLE_MAP"]
    assert pairs == {"Waitlist Front Desk": "Front desk", "8f1c": "Admin"}


def test_the_role_words_of_the_settings_name_exactly_the_portals_roles(settings):
    from clinic import roles

    assert set(settings.OIDC_ROLE_WORDS.values()) == set(roles.ROLE_RANK)

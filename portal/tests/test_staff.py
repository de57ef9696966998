import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.urls import reverse

from clinic import roles
from conftest import STAFF_PASSWORD, make_staff

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "plum-orchard-lantern-42"


def _new(**extra):
    return {"username": "jdoe", "first_name": "Jane", "last_name": "Doe",
            "role": roles.FRONT_DESK, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD,
            **extra}


def _signs_in(client, username, password) -> bool:
    response = client.post(reverse("login"), {"username": username, "password": password})
    return response.status_code == 302


def _role_names(user):
    return set(user.groups.values_list("name", flat=True))


@pytest.mark.parametrize("name", ["portal:staff"])
def test_front_desk_and_outsiders_get_the_403_page(client, front_desk_user, outsider_user,
                                                   name):
    for user in (front_desk_user, outsider_user):
        client.force_login(user)
        response = client.get(reverse(name))
        assert response.status_code == 403
        assert b"open this page" in response.content


def test_front_desk_cannot_add_staff_or_change_roles(client, front_desk_user, manager_user):
    client.force_login(front_desk_user)
    assert client.post(reverse("portal:staff_create"), _new()).status_code == 403
    response = client.post(reverse("portal:staff_set_role", args=[manager_user.pk]),
                           {"role": roles.FRONT_DESK})
    assert response.status_code == 403
    response = client.post(reverse("portal:staff_set_active", args=[manager_user.pk]),
                           {"active": "false"})
    assert response.status_code == 403
    assert not get_user_model().objects.filter(username="jdoe").exists()
    assert _role_names(manager_user) == {roles.MANAGER}
    manager_user.refresh_from_db()
    assert manager_user.is_active


def test_the_menu_shows_staff_to_managers_only(client, front_desk_user, manager_user):
    client.force_login(front_desk_user)
    assert reverse("portal:staff") not in client.get(reverse("portal:today")).content.decode()
    client.force_login(manager_user)
    assert reverse("portal:staff") in client.get(reverse("portal:today")).content.decode()


def test_a_manager_sees_every_account_with_its_role(client, manager_user, front_desk_user,
                                                    admin_user, outsider_user):
    client.force_login(manager_user)
    response = client.get(reverse("portal:staff"))
    rows = {u.username: u.role for u in response.context["page"].object_list}
    assert rows == {"manager": roles.MANAGER, "frontdesk": roles.FRONT_DESK,
                    "admin": roles.ADMIN, "outsider": None}
    page = response.content.decode()
    # Admins and the manager's own account have no buttons here.
    assert f'id="role-{front_desk_user.pk}"' in page
    assert f'id="role-{admin_user.pk}"' not in page
    assert f'id="deactivate-{manager_user.pk}"' not in page


def test_a_manager_adds_a_front_desk_user_who_can_sign_in(client, manager_user):
    client.force_login(manager_user)
    response = client.post(reverse("portal:staff_create"), _new())
    assert response.status_code == 302
    user = get_user_model().objects.get(username="jdoe")
    assert user.get_full_name() == "Jane Doe"
    assert _role_names(user) == {roles.FRONT_DESK}
    assert not user.is_staff
    assert not user.is_superuser
    assert LogEntry.objects.filter(object_id=str(user.pk), user=manager_user).exists()
    client.logout()
    assert _signs_in(client, "jdoe", NEW_PASSWORD)
    assert client.get(reverse("portal:today")).status_code == 200
    assert client.get(reverse("portal:reports")).status_code == 403


@pytest.mark.parametrize(("changes", "complaint"), [
    ({"password1": "short", "password2": "short"}, "too short"),
    ({"password1": "password123", "password2": "password123"}, "too common"),
    ({"password2": "something-else-entirely"}, "didn’t match"),
    ({"username": "manager"}, "already exists"),
    ({"role": roles.ADMIN}, "Select a valid choice"),
])
def test_adding_staff_uses_djangos_checks(client, manager_user, changes, complaint):
    client.force_login(manager_user)
    response = client.post(reverse("portal:staff_create"), _new(**changes))
    assert response.status_code == 400
    assert complaint in response.content.decode()
    assert not get_user_model().objects.filter(username="jdoe").exists()
    assert not get_user_model().objects.filter(groups__name=roles.ADMIN).exists()


def test_a_manager_moves_someone_between_front_desk_and_manager(client, manager_user,
                                                                front_desk_user):
    client.force_login(manager_user)
    url = reverse("portal:staff_set_role", args=[front_desk_user.pk])
    client.post(url, {"role": roles.MANAGER})
    assert _role_names(front_desk_user) == {roles.MANAGER}
    assert get_user_model().objects.get(pk=front_desk_user.pk).has_perm("offers.view_reports")
    response = client.post(url, {"role": roles.FRONT_DESK}, follow=True)
    assert _role_names(front_desk_user) == {roles.FRONT_DESK}
    assert "now front desk" in response.content.decode()
    assert not get_user_model().objects.get(pk=front_desk_user.pk).has_perm(
        "offers.view_reports")


def test_nobody_is_made_an_admin_here(client, manager_user, front_desk_user):
    client.force_login(manager_user)
    client.post(reverse("portal:staff_set_role", args=[front_desk_user.pk]),
                {"role": roles.ADMIN})
    assert _role_names(front_desk_user) == {roles.FRONT_DESK}


def test_admins_and_ones_own_account_cannot_be_changed_here(client, manager_user,
                                                            admin_user):
    other_admin = make_staff("itadmin", roles.ADMIN)
    client.force_login(manager_user)
    for user in (admin_user, other_admin):
        response = client.post(reverse("portal:staff_set_active", args=[user.pk]),
                               {"active": "false"}, follow=True)
        assert "managed in the Django admin" in response.content.decode()
        user.refresh_from_db()
        assert user.is_active
    response = client.post(reverse("portal:staff_set_active", args=[manager_user.pk]),
                           {"active": "false"}, follow=True)
    assert "cannot change your own account" in response.content.decode()
    client.post(reverse("portal:staff_set_role", args=[manager_user.pk]),
                {"role": roles.FRONT_DESK})
    manager_user.refresh_from_db()
    assert manager_user.is_active
    assert _role_names(manager_user) == {roles.MANAGER}


def test_a_deactivated_user_is_signed_out_and_can_be_reactivated(client, manager_user,
                                                                 front_desk_user):
    from django.test import Client

    desk = Client()
    desk.force_login(front_desk_user)
    client.force_login(manager_user)
    url = reverse("portal:staff_set_active", args=[front_desk_user.pk])
    client.post(url, {"active": "false"})
    front_desk_user.refresh_from_db()
    assert not front_desk_user.is_active
    assert desk.get(reverse("portal:today")).status_code == 302  # to the login page
    assert not _signs_in(desk, "frontdesk", STAFF_PASSWORD)
    client.post(url, {"active": "true"})
    front_desk_user.refresh_from_db()
    assert front_desk_user.is_active
    assert _signs_in(desk, "frontdesk", STAFF_PASSWORD)

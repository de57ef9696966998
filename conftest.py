"""Fixtures every app's tests share: named staff users and database-kind markers."""

import datetime
import threading

import pytest
from celery import result as celery_result
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client

from clinic import roles
from clinic.celery import app as celery_app

# Tasks run in-process unless a test starts a real worker (see offers/tests/test_celery_worker.py).
celery_app.conf.task_always_eager = True
celery_app.conf.task_eager_propagates = True

# An eager task runs under Celery's "a task must not wait for another task's result" guard
# (Task.apply's denied_join_result), which sets and then restores ONE flag for the whole
# process. The race tests run eager tasks in several threads at once: two overlapping runs
# restore each other's value in the wrong order and leave the flag set after both ended,
# and every later `.delay().get()` in the suite fails with "Never call result.get() within
# a task". In a worker each task has its process (or thread pool) to itself; here the flag
# is made per thread, which is what an eager run on one thread means.
_join_will_block = threading.local()
celery_result.task_join_will_block = lambda: getattr(_join_will_block, "value", False)
celery_result._set_task_join_will_block = lambda blocks: setattr(_join_will_block, "value",
                                                                  blocks)

STAFF_PASSWORD = "correct-horse-battery-staple"


def pytest_collection_modifyitems(config, items):
    from django.conf import settings

    vendor = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL (set TEST_DATABASE_URL, see README)")
    for item in items:
        if "postgres" in item.keywords and vendor != "postgresql":
            item.add_marker(skip_pg)


@pytest.fixture
def is_postgres():
    return connection.vendor == "postgresql"


class SignedInClient(Client):
    """The test client, with `force_login` and `login` meaning "signed in as the sign-in
    pages would leave them": with a second factor given, for those who need one (the admin
    asks for it). Tests of the sign-in itself go through its pages (accounts/tests/)."""

    def _login(self, user, backend=None):
        from django_otp import DEVICE_ID_SESSION_KEY
        from django_otp.plugins.otp_totp.models import TOTPDevice

        from accounts.services import two_factor_required

        super()._login(user, backend)
        if two_factor_required(user):
            device, _ = TOTPDevice.objects.get_or_create(
                user=user, name="Test authenticator", defaults={"confirmed": True})
            session = self.session
            session[DEVICE_ID_SESSION_KEY] = device.persistent_id
            session.save()


@pytest.fixture
def client():
    return SignedInClient()


def make_staff(username: str, role: str | None, *, is_staff=False):
    roles.ensure_roles()
    user = get_user_model().objects.create_user(
        username=username, password=STAFF_PASSWORD, is_staff=is_staff
    )
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def front_desk_user(db):
    return make_staff("frontdesk", roles.FRONT_DESK)


@pytest.fixture
def manager_user(db):
    return make_staff("manager", roles.MANAGER, is_staff=True)


@pytest.fixture
def outsider_user(db):
    """Signed in, but in no staff role: sees nothing."""
    return make_staff("outsider", None)


@pytest.fixture
def admin_user(db):
    return get_user_model().objects.create_superuser(
        username="admin", password=STAFF_PASSWORD, email="admin@example.com"
    )


@pytest.fixture(autouse=True)
def texting_hours_always_open(settings):
    """Offers may be texted at any hour unless a test says otherwise (quiet hours have
    tests of their own), so no test depends on the hour the suite runs."""
    settings.SMS_SEND_HOURS = (datetime.time(0, 0), None)


@pytest.fixture(autouse=True)
def fixed_offer_policy(settings, request):
    """The engine's tests state their batches (OFFER_BATCH_SIZE) and holds
    (OFFER_HOLD_SECONDS) and check them, so they run the fixed policy; the adaptive one
    (OFFER_POLICY=adaptive), has its own tests (offers/tests/test_policy.py, marked
    `adaptive_policy`, and test_adaptive_flow.py) and the simulator's."""
    adaptive = request.node.get_closest_marker("adaptive_policy") is not None
    settings.OFFER_POLICY = "adaptive" if adaptive else "fixed"


# --- Browser tests (helpers in portal/tests/browser.py; the portal's and accounts' use them)
@pytest.fixture(scope="session")
def browser():
    import os

    from portal.tests.browser import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, browser_required
    from portal.tests.browser import missing as browser_missing

    reason = browser_missing()
    if reason:
        if browser_required():
            pytest.fail(f"REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    # playwright's event loop runs in this thread; the test's own ORM calls are still sync.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def open_page(browser, live_server):
    """open_page(viewport) -> a new page of the live server at that size (a fresh
    context, signed out), collecting console errors (CSP violations among them)."""
    from portal.tests.browser import DESK, serve_axe

    contexts = []

    def open_one(viewport=DESK):
        context = browser.new_context(base_url=live_server.url, viewport=viewport)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.console_errors = []
        page.on("console",
                lambda msg: msg.type == "error" and page.console_errors.append(msg.text))
        serve_axe(page)
        return page

    yield open_one
    for context in contexts:
        context.close()


@pytest.fixture
def page(open_page):
    return open_page()

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


# --- Browser tests (portal/tests/browser.py) -------------------------------------------
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

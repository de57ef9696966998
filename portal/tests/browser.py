"""Helpers for the browser tests (the fixtures are in conftest.py): Debian's chromium
driven by playwright, signing in, and the accessibility check with axe-core from npm."""

import os
import shutil
from pathlib import Path

from django.conf import settings

from conftest import STAFF_PASSWORD

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(settings.BASE_DIR) / "test-results" / "screenshots"
# Installed by `make install` (npm ci, package.json); see portal/tests/test_pages.py.
AXE = Path(settings.BASE_DIR) / "node_modules" / "axe-core" / "axe.min.js"
# Served to the page from its own origin, so the strict Content-Security-Policy
# (script-src 'self') stays on while axe runs: a CSP bypass would hide the very
# violations the other checks look for.
AXE_URL_PATH = "/__test__/axe.min.js"
DESK = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "python playwright is not installed"
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        return f"chromium is not installed at {CHROMIUM}"
    return None


def browser_required() -> bool:
    return os.environ.get("REQUIRE_BROWSER") == "1"


def sign_in(page, user, password: str = STAFF_PASSWORD, *, with_code: bool = True) -> None:
    """Through the sign-in pages, as the person would: the password, then, for managers
    and admins, the current code of their authenticator app (accounts/). With
    `with_code=False` they stop at the page that asks for the code."""
    from django_otp.oath import TOTP
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts.services import two_factor_required

    device = TOTPDevice.objects.get_or_create(
        user=user, confirmed=True, defaults={"name": "Authenticator app"})[0] \
        if two_factor_required(user) else None
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    if device is not None:
        if not with_code:
            page.wait_for_url("**/accounts/two-factor/verify/")
            return
        page.get_by_label("Code").fill(f"{TOTP(device.bin_key).token():06d}")
        page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")


def serve_axe(page) -> None:
    page.route(f"**{AXE_URL_PATH}", lambda route: route.fulfill(
        path=str(AXE), content_type="application/javascript"))


def axe_violations(page, *, impacts=("serious", "critical")) -> list[dict]:
    """axe-core's WCAG 2.x A/AA violations of the page as it is now, of these impacts,
    each as {id, impact, help, targets}."""
    page.add_script_tag(url=AXE_URL_PATH)
    page.wait_for_function("typeof window.axe !== 'undefined'")
    results = page.evaluate("""() => axe.run(document, {
        runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa',
                                        'best-practice']},
        resultTypes: ['violations']})""")
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "targets": [node["target"] for node in v["nodes"]][:5]}
            for v in results["violations"] if v["impact"] in impacts]

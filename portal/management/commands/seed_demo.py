from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from portal.demo import DEMO_DEVICE_NAME, DEMO_PASSWORD, demo_totp_secret, seed_demo


class Command(BaseCommand):
    help = ("Load the demo clinic (staff logins, providers, waitlisted patients). Idempotent. "
            "Development only: refuses to run with DEBUG off unless --force.")

    def add_arguments(self, parser):
        parser.add_argument(
            "--force", action="store_true",
            help="Load the demo even with DEBUG off (its logins share a published password).")

    def handle(self, *args, force=False, **options):
        if not settings.DEBUG and not force:
            raise CommandError(
                "DEBUG is off: this looks like production, and the demo adds staff logins "
                "with a published password. Use --force if you really want the demo here.")
        logins = seed_demo()
        self.stdout.write(self.style.SUCCESS("Demo clinic ready."))
        self.stdout.write(f"Staff portal: {settings.PUBLIC_BASE_URL}/  (admin: /admin/)")
        from django_otp.plugins.otp_totp.models import TOTPDevice

        with_code = set(TOTPDevice.objects.filter(name=DEMO_DEVICE_NAME, confirmed=True)
                        .values_list("user__username", flat=True))
        for username, role, created in logins:
            # An existing account's password may have been changed since: never show it.
            password = DEMO_PASSWORD if created else "(password unchanged)"
            second = "  + two-factor code" if username in with_code else ""
            self.stdout.write(f"  {role:<11} login: {username} / {password}{second}")
        if with_code:
            self.stdout.write(
                "Managers and admins also type a code: `.venv/bin/python manage.py demo_code "
                "manager` prints the current one,\n  or add this demo key to an authenticator "
                f"app (time-based): {demo_totp_secret()}")

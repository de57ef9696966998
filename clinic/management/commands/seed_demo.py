from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from clinic.demo import DEMO_PASSWORD, seed_demo


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
        for username, role, created in logins:
            # An existing account's password may have been changed since: never show it.
            password = DEMO_PASSWORD if created else "(password unchanged)"
            self.stdout.write(f"  {role:<11} login: {username} / {password}")

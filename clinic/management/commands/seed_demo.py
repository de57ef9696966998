from django.conf import settings
from django.core.management.base import BaseCommand

from clinic.demo import DEMO_PASSWORD, seed_demo


class Command(BaseCommand):
    help = "Load the demo clinic (staff logins, providers, waitlisted patients). Idempotent."

    def handle(self, *args, **options):
        logins = seed_demo()
        self.stdout.write(self.style.SUCCESS("Demo clinic ready."))
        self.stdout.write(f"Staff portal: {settings.PUBLIC_BASE_URL}/  (admin: /admin/)")
        for username, role in logins:
            self.stdout.write(f"  {role:<11} login: {username} / {DEMO_PASSWORD}")

from django.core.management.base import BaseCommand, CommandError

from ehr.models import ApiKey


class Command(BaseCommand):
    help = "Create an API key for an EHR integration. The key is printed once, as the last line."

    def add_arguments(self, parser):
        parser.add_argument("name", help="who will use the key, e.g. the EHR system's name")

    def handle(self, *args, name, **options):
        name = name.strip()
        if not name or len(name) > 120:
            raise CommandError("NAME must be 1 to 120 characters.")
        if ApiKey.objects.filter(name=name).exists():
            raise CommandError(f"An API key named {name!r} exists already; pick another name.")
        api_key, raw_key = ApiKey.issue(name=name)
        self.stdout.write(
            f"Created API key {api_key.name!r}. Store it now: only a hash is kept.\n"
            "Send it as the header  Authorization: Bearer <key>"
        )
        self.stdout.write(raw_key)

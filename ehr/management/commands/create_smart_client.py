import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ehr import smart
from ehr.models import SmartClient


class Command(BaseCommand):
    help = ("Register a SMART Backend Services client with its public JWK Set. Its client_id "
            "is printed as the last line. See docs/smart.md.")

    def add_arguments(self, parser):
        parser.add_argument("name", help="who the client is, e.g. the EHR's integration name")
        keys = parser.add_mutually_exclusive_group(required=True)
        keys.add_argument("--jwks", metavar="PATH",
                          help='a file with the client\'s public keys, {"keys": [...]}')
        keys.add_argument("--jwks-url", metavar="URL",
                          help="where the client publishes its JWK Set (https), instead")
        parser.add_argument("--scope", required=True,
                            help='what it may ask for, e.g. "system/Appointment.read '
                                 'system/Appointment.write"')

    def handle(self, *args, name, jwks, jwks_url, scope, **options):
        name = name.strip()
        if not name or len(name) > 120:
            raise CommandError("NAME must be 1 to 120 characters.")
        if SmartClient.objects.filter(name=name).exists():
            raise CommandError(f"A SMART client named {name!r} exists already; pick another name.")
        try:
            scopes = smart.scopes_check(scope)
        except ValueError as exc:
            raise CommandError(f"--scope: {exc}") from None
        key_set = None
        if jwks:
            try:
                key_set = smart.jwks_check(json.loads(Path(jwks).read_text()))
            except OSError as exc:
                raise CommandError(f"--jwks: cannot read {jwks}: {exc.strerror}") from None
            except ValueError as exc:
                raise CommandError(f"--jwks: {exc}") from None
        elif not jwks_url.startswith("https://"):
            raise CommandError("--jwks-url must be an https:// URL.")
        client = SmartClient.objects.create(name=name, jwks=key_set, jwks_url=jwks_url or "",
                                            scopes=scopes)
        self.stdout.write(
            f"Registered SMART client {client.name!r} with scopes {client.scopes}.\n"
            f"Token endpoint: {smart.token_url()}\n"
            "Its assertions use this client_id as iss and sub:")
        self.stdout.write(client.client_id)

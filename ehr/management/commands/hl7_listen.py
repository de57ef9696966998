from django.conf import settings
from django.core.management.base import BaseCommand

from ehr.hl7v2.mllp import serve_forever


class Command(BaseCommand):
    help = ("Serve the HL7 v2 feed (SIU, ADT) over MLLP on HL7_MLLP_HOST:HL7_MLLP_PORT until "
            "stopped (SIGTERM or Ctrl-C). See docs/hl7.md.")

    def add_arguments(self, parser):
        parser.add_argument("--host", default=None,
                            help=f"instead of HL7_MLLP_HOST ({settings.HL7_MLLP_HOST})")
        parser.add_argument("--port", type=int, default=None,
                            help=f"instead of HL7_MLLP_PORT ({settings.HL7_MLLP_PORT})")

    def handle(self, *args, host, port, **options):
        host = host or settings.HL7_MLLP_HOST
        port = settings.HL7_MLLP_PORT if port is None else port

        def ready(bound_port: int) -> None:
            self.stdout.write(f"HL7 MLLP listener on {host}:{bound_port}", ending="\n")
            self.stdout.flush()

        serve_forever(host, port, ready=ready)

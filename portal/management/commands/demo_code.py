from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.demo import DEMO_DEVICE_NAME


class Command(BaseCommand):
    help = ("Print the current two-factor code of a demo login (manager, admin), so the "
            "demo needs no phone. Only the demo's own authenticator, and only with DEBUG on.")

    def add_arguments(self, parser):
        parser.add_argument("username", nargs="?", default="manager")

    def handle(self, *args, username, **options):
        if not settings.DEBUG:
            raise CommandError("DEBUG is off: demo codes are for the development demo only.")
        device = TOTPDevice.objects.filter(user__username=username, name=DEMO_DEVICE_NAME,
                                           confirmed=True).first()
        if device is None:
            raise CommandError(f"{username} has no demo authenticator (seed_demo adds one to "
                               "the manager and admin it creates).")
        totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
        left = device.step - int(totp.time - device.t0) % device.step
        self.stdout.write(f"{username}: {totp.token():0{device.digits}d}  (good for {left} more s)")

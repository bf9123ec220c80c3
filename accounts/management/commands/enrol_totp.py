import segno
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice


class Command(BaseCommand):
    help = (
        "Give a staff member an authenticator-app (TOTP) device for the admin's second factor and print "
        "its provisioning URI and QR code. Shown once: run it where only that person can see the screen."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--replace", action="store_true", help="Remove the user's existing TOTP devices first.")
        parser.add_argument("--no-qr", action="store_true", help="Print only the otpauth:// URI.")

    @transaction.atomic
    def handle(self, *args, username, replace, no_qr, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        if not user.is_staff:
            raise CommandError(f"{username!r} is not staff: only staff sign in to the admin.")
        existing = TOTPDevice.objects.devices_for_user(user, confirmed=None)
        if existing.exists() and not replace:
            raise CommandError(f"{username!r} already has a TOTP device; use --replace to issue a new one.")
        existing.delete()
        device = TOTPDevice.objects.create(user=user, name="authenticator app", confirmed=True)
        self.stdout.write(f"TOTP device created for {username}. Add it to an authenticator app:")
        self.stdout.write(device.config_url)
        if not no_qr:
            segno.make(device.config_url, micro=False).terminal(out=self.stdout, compact=True)
        self.stdout.write("The admin sign-in now asks this user for the app's 6-digit code.")

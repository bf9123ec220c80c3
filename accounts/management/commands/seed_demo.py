from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.models import User

# Local demo only: these credentials are printed on every `./dev run` and refused in production.
DEMO_USERS = [
    # username, password, staff, what it shows
    ("demo", "demo-pass-2026", False, "a user: link a sandbox bank, then get sent to re-auth"),
    ("staff", "staff-pass-2026", True, "a superuser for /admin/"),
]


class Command(BaseCommand):
    help = "Create the demo users for local development (DEBUG only) and print their credentials."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("seed_demo creates users with published passwords; it runs only with DEBUG=true.")
        self.stdout.write("Demo users (local only):")
        for username, password, staff, purpose in DEMO_USERS:
            user, created = User.objects.get_or_create(username=username, defaults={"email": f"{username}@example.com"})
            user.is_staff = user.is_superuser = staff
            user.set_password(password)
            user.save()
            self.stdout.write(f"  {username:<6} / {password:<16} {purpose}{' (created)' if created else ''}")

"""Create a local superuser on first run and print its password once."""

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the user 'admin' with a random password if no superuser exists yet."

    def handle(self, *args: object, **options: object) -> None:
        users = get_user_model()
        if users.objects.filter(is_superuser=True).exists():
            self.stdout.write("A superuser exists; leaving users alone.")
            return
        password = secrets.token_urlsafe(12)
        users.objects.create_superuser("admin", "admin@localhost", password)
        self.stdout.write(
            self.style.SUCCESS(f"Created superuser 'admin' with password: {password}")
            + "\n(shown once; change it with: make manage ARGS='changepassword admin')"
        )

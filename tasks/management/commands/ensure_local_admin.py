"""Create the local superuser 'admin' on a first run, with the password kept in var/local.env."""

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Create the user 'admin' if no superuser exists yet, with the password in "
        "LOCAL_ADMIN_PASSWORD (make run keeps it in var/local.env and prints it once up)."
    )

    def handle(self, *args: object, **options: object) -> None:
        users = get_user_model()
        if users.objects.filter(is_superuser=True).exists():
            self.stdout.write("A superuser exists; leaving users alone.")
            return
        kept = os.environ.get("LOCAL_ADMIN_PASSWORD", "")
        password = kept or secrets.token_urlsafe(12)
        users.objects.create_superuser("admin", "admin@localhost", password)
        where = "LOCAL_ADMIN_PASSWORD in var/local.env" if kept else f"shown once: {password}"
        self.stdout.write(self.style.SUCCESS(f"Created superuser 'admin'; password: {where}"))

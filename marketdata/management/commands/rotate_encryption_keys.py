"""Re-encrypt every encrypted field under the first key of FIELD_ENCRYPTION_KEYS."""

from __future__ import annotations

from collections.abc import Iterator

from cryptography.fernet import Fernet, InvalidToken
from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, models, transaction

from marketdata.fields import EncryptedTextField, fernet

BATCH = 500


def encrypted_columns() -> Iterator[tuple[type[models.Model], list[EncryptedTextField]]]:
    for model in apps.get_models():
        fields = [f for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
        if fields:
            yield model, fields


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret under the first key of FIELD_ENCRYPTION_KEYS. "
        "Run it after putting a new key first; then the old keys can be removed. "
        "Idempotent: values already under the first key are left alone."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would change; write nothing."
        )

    def handle(self, *args: object, dry_run: bool = False, **options: object) -> None:
        keys = settings.FIELD_ENCRYPTION_KEYS
        if not keys:
            raise CommandError("FIELD_ENCRYPTION_KEYS: no key set")
        current = Fernet(keys[0])
        rotated = current_count = 0
        # One transaction: a value no listed key opens aborts the run with nothing half-done.
        with transaction.atomic():
            for model, fields in encrypted_columns():
                for pk, column, token in self.tokens(model, fields):
                    try:
                        current.decrypt(token.encode())
                        current_count += 1
                        continue
                    except InvalidToken:
                        pass
                    try:
                        new_token = fernet().rotate(token.encode()).decode()
                    except InvalidToken:
                        raise CommandError(
                            f"{model._meta.label} {pk} {column}: encrypted with a key that is "
                            "not in FIELD_ENCRYPTION_KEYS; nothing was changed"
                        ) from None
                    if not dry_run:
                        self.write(model, pk, column, new_token)
                    rotated += 1
        verb = "would re-encrypt" if dry_run else "re-encrypted"
        self.stdout.write(f"{verb} {rotated} value(s); {current_count} already under the first key")

    def tokens(
        self, model: type[models.Model], fields: list[EncryptedTextField]
    ) -> Iterator[tuple[object, str, str]]:
        """The raw stored tokens: read past the field, which would decrypt them."""
        quote = connection.ops.quote_name
        columns = ", ".join(quote(f.column) for f in fields)
        pk = quote(model._meta.pk.column)
        sql = f"SELECT {pk}, {columns} FROM {quote(model._meta.db_table)} ORDER BY {pk}"  # noqa: S608 - names from the model, quoted
        with connection.cursor() as cursor:
            cursor.execute(sql + " FOR UPDATE")
            while rows := cursor.fetchmany(BATCH):
                for row in rows:
                    for field, token in zip(fields, row[1:], strict=True):
                        if token:
                            yield row[0], field.column, token

    def write(self, model: type[models.Model], pk: object, column: str, token: str) -> None:
        quote = connection.ops.quote_name
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {quote(model._meta.db_table)} SET {quote(column)} = %s "  # noqa: S608
                f"WHERE {quote(model._meta.pk.column)} = %s",
                [token, pk],
            )

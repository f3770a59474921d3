"""`manage.py rotate_encryption_keys`: everything under the first key, idempotent, all or none."""

from __future__ import annotations

import io

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import override_settings

from marketdata.models import ExchangeAccount
from tests.factories import ExchangeAccountFactory

pytestmark = pytest.mark.django_db


def raw_tokens() -> list[tuple[int, str, str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, api_key, api_secret, api_passphrase FROM marketdata_exchangeaccount"
            " ORDER BY id"
        )
        return cursor.fetchall()


def rotate(*args: str) -> str:
    out = io.StringIO()
    call_command("rotate_encryption_keys", *args, stdout=out)
    return out.getvalue()


def test_rotation_moves_every_secret_to_the_first_key_and_old_key_can_go() -> None:
    old = settings.FIELD_ENCRYPTION_KEYS[0]
    new = Fernet.generate_key().decode()
    accounts = [ExchangeAccountFactory(api_passphrase=f"pass-{n}") for n in range(3)]
    expected = {a.pk: (a.api_key, a.api_secret, a.api_passphrase) for a in accounts}

    with override_settings(FIELD_ENCRYPTION_KEYS=[new, old]):
        report = rotate()

    assert report.strip() == "re-encrypted 9 value(s); 0 already under the first key"
    only_new = Fernet(new)
    for pk, *tokens in raw_tokens():
        assert tuple(only_new.decrypt(t.encode()).decode() for t in tokens) == expected[pk]
    with override_settings(FIELD_ENCRYPTION_KEYS=[new]):
        for account in ExchangeAccount.objects.all():
            assert (account.api_key, account.api_secret, account.api_passphrase) == expected[
                account.pk
            ]


def test_second_rotation_changes_nothing() -> None:
    old = settings.FIELD_ENCRYPTION_KEYS[0]
    new = Fernet.generate_key().decode()
    ExchangeAccountFactory.create_batch(2)

    with override_settings(FIELD_ENCRYPTION_KEYS=[new, old]):
        rotate()
        before = raw_tokens()
        report = rotate()

    assert report.strip() == "re-encrypted 0 value(s); 4 already under the first key"
    assert raw_tokens() == before


def test_dry_run_counts_and_writes_nothing() -> None:
    new = Fernet.generate_key().decode()
    ExchangeAccountFactory()
    before = raw_tokens()

    with override_settings(FIELD_ENCRYPTION_KEYS=[new, *settings.FIELD_ENCRYPTION_KEYS]):
        report = rotate("--dry-run")

    assert report.startswith("would re-encrypt 2 value(s)")
    assert raw_tokens() == before


def test_a_secret_under_an_unlisted_key_aborts_with_nothing_changed() -> None:
    old = settings.FIELD_ENCRYPTION_KEYS[0]
    new = Fernet.generate_key().decode()
    ExchangeAccountFactory()
    stray = ExchangeAccountFactory()
    foreign = Fernet(Fernet.generate_key()).encrypt(b"lost").decode()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE marketdata_exchangeaccount SET api_secret = %s WHERE id = %s",
            [foreign, stray.pk],
        )
    before = raw_tokens()

    with (
        override_settings(FIELD_ENCRYPTION_KEYS=[new, old]),
        pytest.raises(CommandError, match=rf"ExchangeAccount {stray.pk} api_secret"),
    ):
        rotate()

    assert raw_tokens() == before

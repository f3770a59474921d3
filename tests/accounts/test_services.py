"""Account services: secrets encrypted at rest, field errors, needs-attention, nothing logged."""

from __future__ import annotations

import logging

import pytest
from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection

from marketdata.accounts import (
    account_create,
    account_delete,
    account_mark_needs_attention,
    account_update,
)
from marketdata.models import ExchangeAccount
from tests.factories import ExchangeAccountFactory, ExchangeFactory, StrategyFactory, UserFactory

pytestmark = pytest.mark.django_db

KEY = "AKIA-plain-api-key-7Q2"
SECRET = "s3cr3t-plain-api-secret-9Z"
PASSPHRASE = "plain-passphrase-41"


def raw_columns(account_id: int) -> tuple[str, str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT api_key, api_secret, api_passphrase FROM marketdata_exchangeaccount"
            " WHERE id = %s",
            [account_id],
        )
        return cursor.fetchone()


def test_created_account_stores_secrets_encrypted_not_in_plain() -> None:
    account = account_create(
        owner=UserFactory(),
        exchange=ExchangeFactory(),
        label="main",
        api_key=KEY,
        api_secret=SECRET,
        api_passphrase=PASSPHRASE,
    )

    raw = raw_columns(account.pk)

    assert all(value not in column for value in (KEY, SECRET, PASSPHRASE) for column in raw)
    keys = MultiFernet([Fernet(k) for k in settings.FIELD_ENCRYPTION_KEYS])
    assert [keys.decrypt(column.encode()).decode() for column in raw] == [KEY, SECRET, PASSPHRASE]
    stored = ExchangeAccount.objects.get(pk=account.pk)
    assert (stored.api_key, stored.api_secret, stored.api_passphrase) == (KEY, SECRET, PASSPHRASE)


def test_duplicate_label_is_a_label_error_and_saves_nothing() -> None:
    existing = ExchangeAccountFactory(label="main")

    with pytest.raises(ValidationError) as error:
        account_create(
            owner=existing.owner,
            exchange=existing.exchange,
            label="main",
            api_key=KEY,
            api_secret=SECRET,
        )

    assert "label" in error.value.message_dict
    assert ExchangeAccount.objects.filter(owner=existing.owner).count() == 1


def test_blank_key_is_a_field_error() -> None:
    with pytest.raises(ValidationError) as error:
        account_create(
            owner=UserFactory(), exchange=ExchangeFactory(), label="x", api_key="", api_secret="s"
        )

    assert set(error.value.message_dict) == {"api_key"}
    assert not ExchangeAccount.objects.exists()


def test_new_credentials_clear_needs_attention() -> None:
    account = ExchangeAccountFactory(status="needs_attention", status_reason="key refused")

    account_update(account=account, api_secret="a-new-secret")

    account.refresh_from_db()
    assert account.status == ExchangeAccount.Status.OK
    assert account.status_reason == ""
    assert account.api_secret == "a-new-secret"


def test_renaming_keeps_needs_attention_and_the_stored_secrets() -> None:
    account = ExchangeAccountFactory(status="needs_attention", status_reason="key refused")
    secret = account.api_secret

    account_update(account=account, label="renamed")

    account.refresh_from_db()
    assert (account.label, account.status) == ("renamed", "needs_attention")
    assert account.api_secret == secret


def test_needs_attention_reason_has_echoed_secrets_redacted() -> None:
    account = ExchangeAccountFactory(api_key=KEY)

    account_mark_needs_attention(account_id=account.pk, reason=f"API0005: invalid key {KEY}")

    account.refresh_from_db()
    assert account.status == ExchangeAccount.Status.NEEDS_ATTENTION
    assert KEY not in account.status_reason
    assert account.status_reason == "API0005: invalid key [redacted]"


def test_marking_a_deleted_account_returns_none() -> None:
    assert account_mark_needs_attention(account_id=987654, reason="gone") is None


def test_an_account_a_strategy_trades_through_cannot_be_deleted() -> None:
    account = ExchangeAccountFactory()
    StrategyFactory(owner=account.owner, account=account, name="grid")

    with pytest.raises(ValidationError, match="grid"):
        account_delete(account=account)

    assert ExchangeAccount.objects.filter(pk=account.pk).exists()


def test_services_never_log_a_secret(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    owner, exchange = UserFactory(), ExchangeFactory()

    account = account_create(
        owner=owner, exchange=exchange, label="a", api_key=KEY, api_secret=SECRET
    )
    account_update(account=account, api_passphrase=PASSPHRASE)
    account_mark_needs_attention(account_id=account.pk, reason=f"refused {SECRET}")
    account_delete(account=account)

    assert caplog.records, "the services log what they do"
    for value in (KEY, SECRET, PASSPHRASE):
        assert value not in caplog.text

"""Services for users' exchange accounts and their balances; secrets stay write-only."""

from __future__ import annotations

import logging

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from marketdata import exchanges
from marketdata.models import BalanceSnapshot, Exchange, ExchangeAccount
from marketdata.services.contacts import exchange_contact_record
from project.kernel.unique import owner_unique_save

logger = logging.getLogger(__name__)

SECRET_FIELDS = ("api_key", "api_secret", "api_passphrase")
REDACTED = "[redacted]"
DUPLICATE_LABEL = "You already have an exchange account with this label."


def redact(text: str, *, account: ExchangeAccount) -> str:
    """`text` with the account's secrets blanked out: exchange error messages may echo them."""
    for name in SECRET_FIELDS:
        secret = getattr(account, name)
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def _save(account: ExchangeAccount) -> None:
    owner_unique_save(account, field="label", message=DUPLICATE_LABEL)


def account_create(
    *,
    owner: AbstractBaseUser,
    exchange: Exchange,
    label: str,
    api_key: str,
    api_secret: str,
    api_passphrase: str = "",
    active: bool = True,
) -> ExchangeAccount:
    account = ExchangeAccount(
        owner=owner,
        exchange=exchange,
        label=label,
        api_key=api_key,
        api_secret=api_secret,
        api_passphrase=api_passphrase,
        active=active,
    )
    _save(account)
    logger.info("exchange account %s created for user %s", account.pk, owner.pk)
    return account


@transaction.atomic
def account_update(
    *,
    account: ExchangeAccount,
    label: str | None = None,
    api_key: str | None = None,
    api_secret: str | None = None,
    api_passphrase: str | None = None,
    active: bool | None = None,
) -> ExchangeAccount:
    """Change what is given (None keeps a value).

    New credentials clear `needs attention`: the sync stops retrying an account whose keys the
    exchange refused, and editing them is how its owner says "try again".
    """
    changes = {"label": label, "active": active}
    credentials = {"api_key": api_key, "api_secret": api_secret, "api_passphrase": api_passphrase}
    for name, value in (changes | credentials).items():
        if value is not None:
            setattr(account, name, value)
    if any(value is not None for value in credentials.values()):
        account.status = ExchangeAccount.Status.OK
        account.status_reason = ""
    _save(account)
    logger.info("exchange account %s updated", account.pk)
    return account


def account_delete(*, account: ExchangeAccount) -> None:
    """Delete an account no strategy trades through; a strategy's account must be changed first."""
    names = list(account.strategies.values_list("name", flat=True)[:5])
    if names:
        raise ValidationError(
            f"This account is used by strategies ({', '.join(names)}); "
            "give them another account or delete them first."
        )
    account_id = account.pk
    account.delete()
    logger.info("exchange account %s deleted", account_id)


def account_mark_needs_attention(*, account_id: int, reason: str) -> ExchangeAccount | None:
    """Flag an account whose credentials the exchange refused; balance syncs skip it until edited.

    The reason is shown to the owner, so any secret the exchange echoed is redacted first.
    Returns None when the account no longer exists.
    """
    account = ExchangeAccount.objects.filter(pk=account_id).first()
    if account is None:
        logger.warning("exchange account %s no longer exists; not marking it", account_id)
        return None
    account.status = ExchangeAccount.Status.NEEDS_ATTENTION
    account.status_reason = redact(reason, account=account)
    account.save(update_fields=["status", "status_reason", "updated_at"])
    logger.warning("exchange account %s needs attention: %s", account.pk, account.status_reason)
    return account


def balances_sync(*, account_id: int) -> str:
    """Store a snapshot of one account's balances; returns what happened to it.

    An account the exchange refused is marked `needs attention` and skipped from then on: retrying
    bad keys every few minutes only earns an IP ban. Temporary errors propagate, so the task edge
    can retry them.
    """
    account = ExchangeAccount.objects.select_related("exchange").filter(pk=account_id).first()
    if account is None:
        logger.warning("exchange account %s no longer exists; nothing to sync", account_id)
        return "missing"
    if not account.active or account.status == ExchangeAccount.Status.NEEDS_ATTENTION:
        return "skipped"
    try:
        balances = exchanges.fetch_balances(account=account)
    except exchanges.AuthenticationFailed as error:
        # The account's keys, not the exchange: recorded on the account only.
        account_mark_needs_attention(account_id=account.pk, reason=str(error))
        return "needs_attention"
    except exchanges.ExchangeError as error:
        reason = redact(f"balances: {exchanges.describe(error)}", account=account)
        exchange_contact_record(exchange_id=account.exchange_id, errors=[reason])
        raise
    exchange_contact_record(exchange_id=account.exchange_id)
    taken_at = timezone.now()
    BalanceSnapshot.objects.bulk_create(
        BalanceSnapshot(
            account=account,
            asset=balance.asset,
            free=balance.free,
            used=balance.used,
            total=balance.total,
            taken_at=taken_at,
        )
        for balance in balances
    )
    logger.info("exchange account %s: %d balances stored", account.pk, len(balances))
    return "synced"


def balances_sync_all() -> dict[str, int]:
    """Sync every active account; one failing account never stops the others."""
    outcomes: dict[str, int] = {"synced": 0, "skipped": 0, "needs_attention": 0, "failed": 0}
    accounts = ExchangeAccount.objects.filter(
        active=True, status=ExchangeAccount.Status.OK, exchange__enabled=True
    )
    for account_id in accounts.values_list("pk", flat=True):
        try:
            outcome = balances_sync(account_id=account_id)
        except exchanges.ExchangeError as error:
            logger.warning("exchange account %s: balance sync failed: %s", account_id, error)
            outcome = "failed"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes

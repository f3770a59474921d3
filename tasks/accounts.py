"""Account jobs: balances. Tasks take account ids only, so no secret is ever in a message."""

from __future__ import annotations

from celery import shared_task

from marketdata.accounts import balances_sync, balances_sync_all
from marketdata.exchanges import TemporaryExchangeError


@shared_task(
    name="sync_user_balances",
    autoretry_for=(TemporaryExchangeError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=3,
)
def sync_user_balances(account_id: int | None = None) -> dict[str, int] | str:
    """Every active account (the periodic job), or one (after its owner edits it)."""
    if account_id is None:
        return balances_sync_all()
    return balances_sync(account_id=account_id)

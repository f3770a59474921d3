"""Market lists: upsert what the exchange lists, delist what a valid listing no longer has."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from marketdata import exchanges
from marketdata.exchanges import BadExchangeData, ExchangeError, MarketInfo, describe
from marketdata.models import Exchange, Market
from marketdata.services.contacts import exchange_contact_record

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MarketsSync:
    created: int
    updated: int
    deactivated_ids: list[int]
    reactivated_ids: list[int]


def markets_sync(*, exchange_id: int) -> MarketsSync:
    """Upsert the exchange's markets from `load_markets`, recording the contact on the row.

    Markets missing from the listing (or listed as not trading) become inactive, those back
    in it active again; both id lists are returned so that the caller can pause or resume
    what depends on them. A listing that looks broken (see `listing_refusal`) changes
    nothing and raises BadExchangeData.
    """
    exchange = Exchange.objects.get(pk=exchange_id)
    try:
        listed = {m.symbol: m for m in exchanges.load_markets(exchange=exchange)}
        synced = _markets_apply(exchange, listed)
    except ExchangeError as error:
        exchange_contact_record(exchange_id=exchange.pk, errors=[f"markets: {describe(error)}"])
        raise
    exchange_contact_record(exchange_id=exchange.pk)
    return synced


def listing_refusal(*, listed: dict[str, MarketInfo], active: set[str]) -> str:
    """Why a listing is not believed (empty, or dropping too many active markets at once:
    MARKETDATA_DELIST_MAX_SHARE), or "" when it is."""
    if not listed:
        return "the exchange listed no markets at all"
    dropped = {s for s in active if s not in listed or not listed[s].active}
    share = settings.MARKETDATA_DELIST_MAX_SHARE
    if active and len(dropped) > share * len(active):
        return (
            f"the listing drops {len(dropped)} of {len(active)} active markets at once "
            f"(more than MARKETDATA_DELIST_MAX_SHARE={share})"
        )
    return ""


@transaction.atomic
def _markets_apply(exchange: Exchange, listed: dict[str, MarketInfo]) -> MarketsSync:
    existing = {m.symbol: m for m in exchange.markets.select_for_update()}
    refusal = listing_refusal(listed=listed, active={s for s, m in existing.items() if m.active})
    if refusal:
        logger.warning("%s: market list refused, nothing changed: %s", exchange.name, refusal)
        raise BadExchangeData(f"market list refused: {refusal}")
    now = timezone.now()
    created = updated = 0
    deactivated: list[int] = []
    reactivated: list[int] = []
    for symbol, info in listed.items():
        market = existing.get(symbol)
        if market is None:
            market, created = Market(exchange=exchange, symbol=symbol), created + 1
        else:
            updated += 1
        if market.pk and market.active != info.active:
            (reactivated if info.active else deactivated).append(market.pk)
        _market_update(market, info, now)
    for symbol, market in existing.items():
        if symbol not in listed and market.active:
            market.active, market.inactive_since = False, now
            market.save(update_fields=["active", "inactive_since", "updated_at"])
            deactivated.append(market.pk)
    _log_changes(exchange, deactivated, reactivated)
    return MarketsSync(created, updated, sorted(deactivated), sorted(reactivated))


def _market_update(market: Market, info: MarketInfo, now: object) -> None:
    if info.active:
        market.inactive_since = None
    elif market.inactive_since is None:
        market.inactive_since = now
    market.exchange_symbol = info.exchange_symbol
    market.base, market.quote = info.base, info.quote
    market.precision, market.limits, market.active = info.precision, info.limits, info.active
    market.precision_mode, market.ccxt_market = info.precision_mode, info.raw
    market.save()


def _log_changes(exchange: Exchange, deactivated: list[int], reactivated: list[int]) -> None:
    if deactivated:
        logger.warning("%s: markets no longer trading: %s", exchange.name, sorted(deactivated))
    if reactivated:
        logger.warning("%s: markets trading again: %s", exchange.name, sorted(reactivated))


def all_markets_sync() -> dict[str, dict]:
    """`markets_sync` for every enabled exchange; one failing exchange never stops the others.
    Per exchange: created, updated, deactivated and reactivated market ids, or the error."""
    summary: dict[str, dict] = {}
    for exchange in Exchange.objects.filter(enabled=True):
        try:
            synced = markets_sync(exchange_id=exchange.pk)
        except ExchangeError as error:
            summary[exchange.name] = {"error": describe(error)}
            continue
        summary[exchange.name] = {
            "created": synced.created,
            "updated": synced.updated,
            "deactivated": synced.deactivated_ids,
            "reactivated": synced.reactivated_ids,
        }
    logger.info("markets synced: %s", summary)
    return summary

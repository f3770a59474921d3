"""Writes of market data, one concern a module: series, markets, collection, contacts."""

from marketdata.services.collection import market_data_collect
from marketdata.services.contacts import exchange_contact_record
from marketdata.services.markets import MarketsSync, all_markets_sync, markets_sync
from marketdata.services.series import candles_upsert, candles_upsert_many, tickers_store

__all__ = [
    "MarketsSync",
    "all_markets_sync",
    "candles_upsert",
    "candles_upsert_many",
    "exchange_contact_record",
    "market_data_collect",
    "markets_sync",
    "tickers_store",
]

"""Admin for marketdata: exchanges and watchlists are edited; exchange data is read-only."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from marketdata.models import Candle, Exchange, Market, Ticker, Watchlist


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows that come from the exchange: shown, never edited by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Exchange)
class ExchangeAdmin(admin.ModelAdmin):
    list_display = ("name", "ccxt_id", "api_url", "enabled", "last_success_at", "last_error_at")
    list_filter = ("enabled", "ccxt_id")
    search_fields = ("name", "ccxt_id")
    readonly_fields = ("last_success_at", "last_error_at", "last_error", "created_at")


@admin.register(Market)
class MarketAdmin(ReadOnlyAdmin):
    list_display = ("symbol", "exchange", "base", "quote", "active", "inactive_since")
    list_filter = ("exchange", "active", "quote")
    search_fields = ("symbol", "exchange_symbol", "base", "quote")


@admin.register(Candle)
class CandleAdmin(ReadOnlyAdmin):
    list_display = ("market", "timeframe", "open_time", "open", "high", "low", "close", "volume",
                    "is_closed")  # fmt: skip
    list_filter = ("timeframe", "is_closed", "market__exchange", "market__symbol")
    list_select_related = ("market__exchange",)
    date_hierarchy = "open_time"
    ordering = ("-open_time",)
    show_full_result_count = False


@admin.register(Ticker)
class TickerAdmin(ReadOnlyAdmin):
    list_display = ("market", "time", "last", "bid", "ask", "volume")
    list_filter = ("market__exchange", "market__symbol")
    list_select_related = ("market__exchange",)
    date_hierarchy = "time"
    show_full_result_count = False


@admin.register(Watchlist)
class WatchlistAdmin(admin.ModelAdmin):
    list_display = ("market", "timeframe", "enabled")
    list_filter = ("enabled", "timeframe", "market__exchange")
    list_editable = ("enabled",)
    autocomplete_fields = ("market",)

"""Exchanges, their markets and the data collected from them; users' exchange accounts."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models

from marketdata.fields import EncryptedTextField
from project.kernel.decimals import STORED_DIGITS, STORED_PLACES, PrecisionMode
from project.kernel.validators import validate_name


class Timeframe(models.TextChoices):
    """Candle timeframes that exchanges (and ccxt) agree on; there is no 10m."""

    M1 = "1m", "1 minute"
    M5 = "5m", "5 minutes"
    M15 = "15m", "15 minutes"
    M30 = "30m", "30 minutes"
    H1 = "1h", "1 hour"
    H4 = "4h", "4 hours"
    D1 = "1d", "1 day"

    @property
    def duration(self) -> timedelta:
        return TIMEFRAME_DURATIONS[self.value]


TIMEFRAME_DURATIONS: dict[str, timedelta] = {
    "1m": timedelta(minutes=1),
    "5m": timedelta(minutes=5),
    "15m": timedelta(minutes=15),
    "30m": timedelta(minutes=30),
    "1h": timedelta(hours=1),
    "4h": timedelta(hours=4),
    "1d": timedelta(days=1),
}

# Every price, amount and money column: storage wide enough for any market; orders are
# computed to their market's own precision (strategies.ordering).
PRICE = {"max_digits": STORED_DIGITS, "decimal_places": STORED_PLACES}


class Exchange(models.Model):
    """An exchange reached through ccxt; `sandbox` picks its testnet, `api_url` another host."""

    name = models.SlugField(max_length=50, unique=True)
    ccxt_id = models.CharField(max_length=50, help_text="ccxt's id, e.g. 'bitstamp'.")
    api_url = models.URLField(
        blank=True,
        help_text="Send every request here instead: replaces the scheme, host and port of each "
        "of ccxt's API URLs and keeps their paths, so one value serves every API family (e.g. "
        "http://127.0.0.1:8765 for the simulator, or a proxy). Empty: the exchange's own URLs. "
        "For an exchange's testnet, tick 'sandbox' instead.",
    )
    api_urls = models.JSONField(
        default=dict,
        blank=True,
        help_text='Rarely needed: full URLs for single API families, e.g. {"fapiPublic": '
        '"https://host/fapi/v1"}, applied after api_url. Keys are ccxt\'s urls["api"] keys.',
    )
    sandbox = models.BooleanField(
        default=False,
        help_text="Use the exchange's testnet as ccxt knows it (set_sandbox_mode): Binance, "
        "Bybit, OKX and others. Exchanges without one in ccxt (Kraken, Bitstamp) fail with a "
        "clear error.",
    )
    enabled = models.BooleanField(default=True)
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Market(models.Model):
    """A tradable pair on one exchange, as its `load_markets` describes it."""

    exchange = models.ForeignKey(Exchange, on_delete=models.CASCADE, related_name="markets")
    symbol = models.CharField(max_length=50, help_text="Unified ccxt symbol, e.g. BTC/USD.")
    exchange_symbol = models.CharField(max_length=50, help_text="The exchange's own id.")
    base = models.CharField(max_length=20)
    quote = models.CharField(max_length=20)
    active = models.BooleanField(default=True)
    precision = models.JSONField(default=dict, blank=True)
    limits = models.JSONField(default=dict, blank=True)
    precision_mode = models.PositiveSmallIntegerField(
        choices=[(mode.value, mode.name.replace("_", " ").lower()) for mode in PrecisionMode],
        default=int(PrecisionMode.TICK_SIZE),
        help_text="How `precision` counts, as the exchange's ccxt class says (precisionMode): "
        "tick size (0.01), decimal places (2) or significant digits.",
    )
    inactive_since = models.DateTimeField(null=True, blank=True)
    ccxt_market = models.JSONField(
        default=dict,
        blank=True,
        editable=False,
        help_text="The market as ccxt loaded it; handed back to ccxt so calls need no reload.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["exchange__name", "symbol"]
        constraints = [
            models.UniqueConstraint(fields=["exchange", "symbol"], name="market_unique_symbol"),
        ]

    def __str__(self) -> str:
        return f"{self.exchange.name}:{self.symbol}"


class Candle(models.Model):
    """One OHLCV bar; the newest bar of a series is still forming until `is_closed`."""

    market = models.ForeignKey(Market, on_delete=models.CASCADE, related_name="candles")
    timeframe = models.CharField(max_length=4, choices=Timeframe.choices)
    open_time = models.DateTimeField()
    open = models.DecimalField(**PRICE)
    high = models.DecimalField(**PRICE)
    low = models.DecimalField(**PRICE)
    close = models.DecimalField(**PRICE)
    volume = models.DecimalField(**PRICE)
    is_closed = models.BooleanField(default=False)

    class Meta:
        ordering = ["market", "timeframe", "open_time"]
        constraints = [
            models.UniqueConstraint(
                fields=["market", "timeframe", "open_time"], name="candle_unique_bar"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.market} {self.timeframe} {self.open_time:%Y-%m-%d %H:%M}"


class Ticker(models.Model):
    """A snapshot of a market's ticker, at most one per market and exchange timestamp."""

    market = models.ForeignKey(Market, on_delete=models.CASCADE, related_name="tickers")
    time = models.DateTimeField()
    last = models.DecimalField(**PRICE)
    bid = models.DecimalField(**PRICE, null=True, blank=True)
    ask = models.DecimalField(**PRICE, null=True, blank=True)
    high = models.DecimalField(**PRICE, null=True, blank=True)
    low = models.DecimalField(**PRICE, null=True, blank=True)
    volume = models.DecimalField(**PRICE, null=True, blank=True)

    class Meta:
        ordering = ["market", "-time"]
        constraints = [
            models.UniqueConstraint(fields=["market", "time"], name="ticker_unique_time"),
        ]

    def __str__(self) -> str:
        return f"{self.market} {self.last} at {self.time:%Y-%m-%d %H:%M:%S}"


class Watchlist(models.Model):
    """A market and timeframe that collect_crypto_data keeps up to date."""

    market = models.ForeignKey(Market, on_delete=models.CASCADE, related_name="watchlist")
    timeframe = models.CharField(max_length=4, choices=Timeframe.choices)
    enabled = models.BooleanField(default=True)

    class Meta:
        verbose_name = "watchlist entry"
        verbose_name_plural = "watchlist entries"  # "4 watchlist entries", not "4 watchlist"
        constraints = [
            models.UniqueConstraint(fields=["market", "timeframe"], name="watchlist_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.market} {self.timeframe}"


class ExchangeAccount(models.Model):
    """A user's API credentials on one exchange; the secrets are encrypted at rest."""

    class Status(models.TextChoices):
        OK = "ok", "OK"
        NEEDS_ATTENTION = "needs_attention", "Needs attention"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="exchange_accounts"
    )
    exchange = models.ForeignKey(Exchange, on_delete=models.PROTECT, related_name="accounts")
    label = models.CharField(max_length=100, validators=[validate_name])
    api_key = EncryptedTextField()
    api_secret = EncryptedTextField()
    api_passphrase = EncryptedTextField(blank=True)
    active = models.BooleanField(default=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OK)
    status_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["owner", "label"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "label"], name="account_unique_label"),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.exchange.name})"


class BalanceSnapshot(models.Model):
    """An account's balance of one asset at one moment, as the exchange reported it."""

    account = models.ForeignKey(ExchangeAccount, on_delete=models.CASCADE, related_name="balances")
    asset = models.CharField(max_length=20)
    free = models.DecimalField(**PRICE)
    used = models.DecimalField(**PRICE)
    total = models.DecimalField(**PRICE)
    taken_at = models.DateTimeField()

    class Meta:
        ordering = ["account", "asset", "-taken_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "asset", "taken_at"], name="balance_unique_snapshot"
            ),
        ]
        indexes = [models.Index(fields=["account", "asset", "-taken_at"])]

    def __str__(self) -> str:
        return f"{self.account} {self.asset} {self.total}"

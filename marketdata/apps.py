"""The market data app's configuration: exchanges, markets, candles and accounts."""

from django.apps import AppConfig


class MarketdataConfig(AppConfig):
    name = "marketdata"
    verbose_name = "Market data"

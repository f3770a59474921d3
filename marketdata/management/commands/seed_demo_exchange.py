"""`manage.py seed_demo_exchange`: the demo exchange on the local simulator, ready to collect."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from marketdata.accounts import account_create
from marketdata.models import Exchange, ExchangeAccount, Watchlist
from marketdata.services import markets_sync
from marketdata.simulator import DEMO_ACCOUNT, SimulatedExchange

DEMO_WATCHLIST = [("BTC/USD", "1m"), ("ETH/USD", "1m"), ("BTC/USD", "1h"), ("ETH/USD", "1h")]


def demo_exchange_seed(*, api_url: str, load_markets_from: str = "") -> Exchange:
    """The `demo` exchange (ccxt's bitstamp at `api_url`), its markets and a small watchlist;
    idempotent. `load_markets_from` lets the markets come from another simulator instance when
    the one at `api_url` is not running yet (as in `make run`'s set-up step)."""
    exchange, _ = Exchange.objects.update_or_create(
        name="demo",
        defaults={"ccxt_id": "bitstamp", "api_url": load_markets_from or api_url, "enabled": True},
    )
    markets_sync(exchange_id=exchange.pk)
    if exchange.api_url != api_url:
        exchange.api_url = api_url
        exchange.save(update_fields=["api_url"])
    for symbol, timeframe in DEMO_WATCHLIST:
        market = exchange.markets.get(symbol=symbol)
        Watchlist.objects.get_or_create(market=market, timeframe=timeframe)
    return exchange


def demo_account_seed(
    *, exchange: Exchange, api_key: str, api_secret: str
) -> ExchangeAccount | None:
    """The first superuser's account on the demo exchange, so balances show up offline.

    Idempotent; None while there is no superuser to own it.
    """
    owner = get_user_model().objects.filter(is_superuser=True).order_by("pk").first()
    if owner is None:
        return None
    existing = ExchangeAccount.objects.filter(owner=owner, exchange=exchange, label="demo").first()
    if existing is not None:
        return existing
    return account_create(
        owner=owner, exchange=exchange, label="demo", api_key=api_key, api_secret=api_secret
    )


class Command(BaseCommand):
    help = "Create or update the `demo` exchange (the simulator), its markets and a watchlist."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--api-url", default=settings.SIMULATOR_URL)

    def handle(self, *args: Any, **options: Any) -> None:
        # The simulator of Procfile.dev starts after the set-up steps: markets are read from a
        # throw-away in-process instance, which lists exactly the same ones.
        simulator = SimulatedExchange(port=0).start()
        try:
            exchange = demo_exchange_seed(
                api_url=options["api_url"], load_markets_from=simulator.url
            )
        finally:
            simulator.stop()
        account = demo_account_seed(
            exchange=exchange, api_key=DEMO_ACCOUNT[0], api_secret=DEMO_ACCOUNT[1]
        )
        if account is not None:
            self.stdout.write(f"Demo account {account.label!r} for user {account.owner}.")
        self.stdout.write(
            f"Demo exchange {exchange.name!r} at {exchange.api_url}: "
            f"{exchange.markets.count()} markets, "
            f"{exchange.markets.filter(watchlist__isnull=False).distinct().count()} watched."
        )

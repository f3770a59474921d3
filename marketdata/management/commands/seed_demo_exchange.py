"""`manage.py seed_demo_exchange`: the demo exchange on the local simulator, ready to collect."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from marketdata.accounts import demo_account_seed
from marketdata.services import demo_exchange_seed
from marketdata.simulator import DEMO_ACCOUNT, SimulatedExchange


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

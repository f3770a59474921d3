"""`manage.py seed_demo_exchange`: the demo exchange on the local simulator, ready to collect."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from marketdata.services import demo_exchange_seed
from marketdata.simulator import SimulatedExchange


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
        self.stdout.write(
            f"Demo exchange {exchange.name!r} at {exchange.api_url}: "
            f"{exchange.markets.count()} markets, "
            f"{exchange.markets.filter(watchlist__isnull=False).distinct().count()} watched."
        )

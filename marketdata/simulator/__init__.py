"""A simulated Bitstamp v2 exchange on loopback: for tests, benchmarks and an offline `make run`.

    python -m marketdata.simulator --port 8765 [--account KEY:SECRET] [--markets 100]

It serves what ccxt's `bitstamp` class asks for (markets, tickers, OHLC, balances, orders with
client order ids, order status), signs nothing it cannot check (private calls are verified like
Bitstamp's X-Auth-Signature), prices follow a deterministic series, and faults can be switched
on through `POST /_control/faults` or `SimulatedExchange.add_fault()`.
"""

from marketdata.simulator.exchange import DEMO_ACCOUNT, SimulatedExchange

__all__ = ["DEMO_ACCOUNT", "SimulatedExchange"]

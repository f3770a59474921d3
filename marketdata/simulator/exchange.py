"""The simulated exchange: its state, the Python API tests drive it by, public answers."""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from typing import Any

from marketdata.simulator.http import Server
from marketdata.simulator.orders import DEFAULT_BALANCES, MINIMUM_ORDER_VALUE, AccountBook
from marketdata.simulator.prices import MARKETS, STEPS, PriceSeries, SimMarket, synthetic_markets
from marketdata.simulator.records import FAULT_KINDS, ApiError, Fault, SimOrder

# The key and secret `python -m marketdata.simulator` accepts unless told otherwise; not a secret.
DEMO_ACCOUNT = ("demo-key", "demo-secret")


class SimulatedExchange(AccountBook):
    """The server and its state; `start()` runs it in a thread, `serve_forever()` in this one."""

    def __init__(
        self,
        port: int = 0,
        accounts: dict[str, str] | None = None,
        extra_markets: int = 0,
        latency: float = 0.0,
        host: str = "127.0.0.1",
    ) -> None:
        self.markets: dict[str, SimMarket] = {
            m.pair: m for m in [*MARKETS, *synthetic_markets(extra_markets)]
        }
        self.delisted: set[str] = set()
        self.accounts = dict(accounts or {})
        self.balances: dict[str, dict[str, Decimal]] = {
            key: {asset: Decimal(v) for asset, v in DEFAULT_BALANCES.items()}
            for key in self.accounts
        }
        self.orders: list[SimOrder] = []
        self.latency = latency
        self.clock_offset = 0.0
        self.series = PriceSeries()
        self.faults: list[Fault] = []
        self.request_log: list[tuple[float, str, str]] = []
        self.request_windows: list[tuple[float, float, str, str]] = []
        self.lock = threading.RLock()
        self._next_order_id = 1_000_000
        self.server = Server((host, port), self)
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # --- Python API -----------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        """The value for `Exchange.api_url`: it answers Bitstamp's own paths (`/api/v2/...`)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> SimulatedExchange:
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def now(self) -> float:
        return time.time() + self.clock_offset

    def advance_clock(self, seconds: float) -> None:
        with self.lock:
            self.clock_offset += seconds

    def add_fault(self, kind: str, times: int | None = 1, path: str = "", **options: Any) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; choose one of {sorted(FAULT_KINDS)}")
        with self.lock:
            self.faults.append(Fault(kind, times, path, options))

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def delist(self, symbol: str) -> None:
        with self.lock:
            self.delisted.add(symbol.replace("/", "").lower())

    def requests(self, path_contains: str = "") -> list[tuple[float, str, str]]:
        """(monotonic arrival time, method, path) of every request so far."""
        with self.lock:
            return [r for r in self.request_log if path_contains in r[2]]

    def most_in_flight(self, path_contains: str = "") -> int:
        """The most requests (whose path contains this) the server was answering at once."""
        with self.lock:
            windows = [w for w in self.request_windows if path_contains in w[3]]
        # Each window opens (+1) and closes (-1); at one instant, closes count first.
        events = sorted([(w[0], 1) for w in windows] + [(w[1], -1) for w in windows])
        most = current = 0
        for _, step in events:
            current += step
            most = max(most, current)
        return most

    def take_fault(self, path: str, kinds: set[str]) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.kind in kinds and fault.path in path:
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self.faults.remove(fault)
                    return fault
        return None

    def listed(self) -> list[SimMarket]:
        return [m for pair, m in self.markets.items() if pair not in self.delisted]

    # --- Public endpoints -----------------------------------------------------------------
    def markets_json(self) -> list[dict[str, Any]]:
        return [
            {
                "name": m.name,
                "market_symbol": m.pair,
                "base_currency": m.base,
                "base_decimals": m.base_decimals,
                "counter_currency": m.quote,
                "counter_decimals": m.counter_decimals,
                "minimum_order_value": str(MINIMUM_ORDER_VALUE),
                "trading": "Enabled",
                "instant_and_market_orders": "Enabled",
                "description": m.description or f"{m.base} / {m.quote}",
                "market_type": "SPOT",
            }
            for m in self.listed()
        ]

    def ticker_json(self, market: SimMarket) -> dict[str, str]:
        now = self.now()
        day = self.series.candle(market, int(now // 86400 * 86400), 86400, now)
        last = self.series.price(market, now)
        digits = max(2, market.counter_decimals)
        return {
            "timestamp": str(int(now)),
            "open": day["open"],
            "high": f"{max(float(day['high']), last):.{digits}f}",
            "low": f"{min(float(day['low']), last):.{digits}f}",
            "last": f"{last:.{digits}f}",
            "bid": f"{last * 0.9995:.{digits}f}",
            "ask": f"{last * 1.0005:.{digits}f}",
            "vwap": day["close"],
            "volume": day["volume"],
            "pair": market.name,
        }

    def ohlc_json(self, market: SimMarket, query: dict[str, str], path: str) -> dict[str, Any]:
        step = int(query.get("step", "60"))
        if step not in STEPS:
            raise ApiError(400, {"errors": [{"field": "step", "message": "Invalid step."}]})
        limit = max(1, min(1000, int(query.get("limit", "1000"))))
        now = self.now()
        latest = int(now // step * step)
        end = min(int(query["end"]) // step * step, latest) if query.get("end") else latest
        if query.get("start"):
            first = -(-int(query["start"]) // step) * step
            opens = range(first, min(end, first + (limit - 1) * step) + 1, step)
        else:
            opens = range(max(0, end - (limit - 1) * step), end + 1, step)
        gaps = [f for f in self.faults_of("gap") if f.path in path]
        candles = [
            self.series.candle(market, t, step, now)
            for t in opens
            if not any(f.options["start"] <= t < f.options["end"] for f in gaps)
        ]
        return {"data": {"pair": market.name, "ohlc": candles}}

    def faults_of(self, kind: str) -> list[Fault]:
        with self.lock:
            return [f for f in self.faults if f.kind == kind]

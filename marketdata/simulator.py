"""A simulated Bitstamp v2 exchange on loopback: for tests, benchmarks and an offline `make run`.

    python -m marketdata.simulator --port 8765 [--account KEY:SECRET] [--markets 100]

It serves what ccxt's `bitstamp` class asks for (markets, tickers, OHLC, balances, orders with
client order ids, order status), signs nothing it cannot check (private calls are verified like
Bitstamp's X-Auth-Signature), prices follow a deterministic series, and faults can be switched
on through `POST /_control/faults` or `SimulatedExchange.add_fault()`.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import math
import threading
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

STEPS = {60, 180, 300, 900, 1800, 3600, 7200, 14400, 21600, 43200, 86400, 259200}
FAULT_KINDS = {
    "rate_limit",  # 429 with Retry-After
    "server_error",  # 5xx with an HTML body
    "slow",  # the answer comes after `delay` seconds
    "malformed",  # 200 with a truncated JSON body
    "bad_values",  # 200 with a candle or ticker value replaced (negative, NaN, missing)
    "misaligned",  # 200 with one candle moved off the timeframe's grid
    "gap",  # candles with open times in [start, end) are missing
    "slow_create",  # buy/sell: the order is created, the answer comes after `delay` seconds
}
FEE_RATE = Decimal("0.003")
MINIMUM_ORDER_VALUE = Decimal(10)
DEFAULT_BALANCES = {"usd": "100000", "btc": "2", "eth": "20", "sol": "100", "ltc": "50"}


@dataclass(frozen=True)
class SimMarket:
    base: str
    quote: str
    price: float
    base_decimals: int = 8
    counter_decimals: int = 2
    description: str = ""

    @property
    def name(self) -> str:
        return f"{self.base}/{self.quote}"

    @property
    def pair(self) -> str:
        return f"{self.base}{self.quote}".lower()

    @property
    def seed(self) -> float:
        return (zlib.crc32(self.pair.encode()) % 10_000) / 10_000 * 2 * math.pi


MARKETS = [
    SimMarket("BTC", "USD", 60_000.0, description="Bitcoin / U.S. dollar"),
    SimMarket("ETH", "USD", 3_000.0, description="Ether / U.S. dollar"),
    SimMarket("SOL", "USD", 150.0, description="Solana / U.S. dollar"),
    SimMarket("LTC", "USD", 80.0, description="Litecoin / U.S. dollar"),
    SimMarket("XRP", "USD", 0.6, counter_decimals=5, description="XRP / U.S. dollar"),
    SimMarket("ETH", "BTC", 0.05, counter_decimals=8, description="Ether / Bitcoin"),
]


def synthetic_markets(count: int) -> list[SimMarket]:
    """Extra markets (T001/USD, ...) for benchmarks that need many."""
    return [
        SimMarket(f"T{n:03d}", "USD", 10.0 + n, description=f"Token {n} / U.S. dollar")
        for n in range(1, count + 1)
    ]


@dataclass
class Fault:
    kind: str
    times: int | None = 1  # None: until cleared
    path: str = ""  # only requests whose path contains this
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class SimOrder:
    id: int
    owner: str
    client_order_id: str
    market: SimMarket
    side: str
    type: str
    amount: Decimal
    price: Decimal | None
    created: datetime
    status: str = "Open"
    transactions: list[dict[str, Any]] = field(default_factory=list)

    def remaining(self) -> Decimal:
        filled = sum((Decimal(t[self.market.base.lower()]) for t in self.transactions), Decimal(0))
        return self.amount - filled


class PriceSeries:
    """A deterministic, market-looking price path: a few cycles plus per-minute noise."""

    CYCLES = ((0.06, 24 * 11), (0.03, 24), (0.015, 6.3), (0.006, 1.7), (0.003, 0.31))

    def price(self, market: SimMarket, t: float) -> float:
        hours = t / 3600
        drift = sum(
            amp * math.sin(2 * math.pi * hours / period + market.seed * (i + 1))
            for i, (amp, period) in enumerate(self.CYCLES)
        )
        minute = int(t // 60)
        noise = (self._unit(market, minute) - 0.5) * 0.002
        return market.price * math.exp(drift + noise)

    def candle(self, market: SimMarket, start: int, step: int, now: float) -> dict[str, str]:
        end = min(start + step, now)
        samples = max(2, min(60, step // 60 + 1))
        points = [start + (end - start) * i / (samples - 1) for i in range(samples)]
        prices = [self.price(market, p) for p in points]
        full_volume = (0.5 + self._unit(market, start // step + step)) * 20 * step / 3600
        volume = full_volume * (end - start) / step
        digits = max(2, market.counter_decimals)
        return {
            "timestamp": str(start),
            "open": f"{prices[0]:.{digits}f}",
            "high": f"{max(prices):.{digits}f}",
            "low": f"{min(prices):.{digits}f}",
            "close": f"{prices[-1]:.{digits}f}",
            "volume": f"{volume:.8f}",
        }

    @staticmethod
    def _unit(market: SimMarket, n: int) -> float:
        digest = hashlib.blake2b(f"{market.pair}:{n}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64


# The key and secret `python -m marketdata.simulator` accepts unless told otherwise; not a secret.
DEMO_ACCOUNT = ("demo-key", "demo-secret")


class SimulatedExchange:
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
        self.lock = threading.RLock()
        self._next_order_id = 1_000_000
        self.server = _Server((host, port), _handler_for(self))
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # --- Python API -----------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        """The value for `Exchange.api_url`: ccxt appends `/v2/<path>`."""
        return f"http://127.0.0.1:{self.port}/api"

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

    # --- Private endpoints ----------------------------------------------------------------
    def balances_json(self, key: str) -> list[dict[str, str]]:
        reserved = self.reserved(key)
        return [
            {
                "currency": asset,
                "total": f"{total:.8f}",
                "available": f"{total - reserved.get(asset, Decimal(0)):.8f}",
                "reserved": f"{reserved.get(asset, Decimal(0)):.8f}",
            }
            for asset, total in sorted(self.balances[key].items())
        ]

    def reserved(self, key: str) -> dict[str, Decimal]:
        held: dict[str, Decimal] = {}
        for order in (o for o in self.orders if o.status == "Open" and o.owner == key):
            m = order.market
            if order.side == "buy":
                cost = order.remaining() * (order.price or Decimal(0)) * (1 + FEE_RATE)
                held[m.quote.lower()] = held.get(m.quote.lower(), Decimal(0)) + cost
            else:
                held[m.base.lower()] = held.get(m.base.lower(), Decimal(0)) + order.remaining()
        return held

    def create_order(
        self, key: str, market: SimMarket, side: str, kind: str, form: dict[str, str]
    ) -> SimOrder:
        try:
            amount = Decimal(form["amount"])
            price = Decimal(form["price"]) if kind == "limit" else None
        except (KeyError, ArithmeticError):
            raise ApiError(200, _error("Invalid amount or price.")) from None
        if not amount.is_finite() or amount <= 0 or (price is not None and price <= 0):
            raise ApiError(200, _error("Invalid amount or price."))
        client_order_id = form.get("client_order_id", "")
        with self.lock:
            if client_order_id and any(
                o.client_order_id == client_order_id and o.owner == key for o in self.orders
            ):
                raise ApiError(200, _error("Client order id already used."))
            last = Decimal(str(self.series.price(market, self.now())))
            ask, bid = last * Decimal("1.0005"), last * Decimal("0.9995")
            reference = price if price is not None else (ask if side == "buy" else bid)
            if amount * reference < MINIMUM_ORDER_VALUE:
                raise ApiError(
                    200, _error(f"Minimum order size is {MINIMUM_ORDER_VALUE} {market.quote}.")
                )
            fills = (price is None) or (price >= ask if side == "buy" else price <= bid)
            fill_price = (ask if side == "buy" else bid) if fills else Decimal(0)
            self._check_funds(key, market, side, amount, fill_price if fills else reference)
            self._next_order_id += 1
            order = SimOrder(
                id=self._next_order_id,
                client_order_id=client_order_id,
                market=market,
                side=side,
                type=kind,
                amount=amount,
                price=price,
                created=datetime.fromtimestamp(self.now(), UTC),
                owner=key,
            )
            self.orders.append(order)
            if fills:
                self._fill(key, order, fill_price)
            return order

    def _check_funds(
        self, key: str, market: SimMarket, side: str, amount: Decimal, price: Decimal
    ) -> None:
        asset = market.quote.lower() if side == "buy" else market.base.lower()
        need = amount * price * (1 + FEE_RATE) if side == "buy" else amount
        total = self.balances[key].get(asset, Decimal(0))
        available = total - self.reserved(key).get(asset, Decimal(0))
        if need > available:
            raise ApiError(
                200,
                _error(
                    f"You have only {available:.8f} {asset.upper()} available. "
                    "Check your account balance for details."
                ),
            )

    def _fill(self, key: str, order: SimOrder, price: Decimal) -> None:
        m, balances = order.market, self.balances[key]
        base, quote = m.base.lower(), m.quote.lower()
        cost = (order.amount * price).quantize(Decimal("0.00000001"), ROUND_DOWN)
        fee = (cost * FEE_RATE).quantize(Decimal("0.00000001"), ROUND_DOWN)
        sign = 1 if order.side == "buy" else -1
        balances[base] = balances.get(base, Decimal(0)) + sign * order.amount
        balances[quote] = balances.get(quote, Decimal(0)) - sign * cost - fee
        order.transactions.append(
            {
                "tid": order.id * 10 + len(order.transactions),
                "price": f"{price:.8f}",
                "fee": f"{fee:.8f}",
                "datetime": order.created.strftime("%Y-%m-%d %H:%M:%S.%f"),
                "type": 2,
                base: f"{order.amount:.8f}",
                quote: f"{cost:.8f}",
            }
        )
        order.status = "Finished"

    def order_json(self, order: SimOrder, *, full: bool) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(order.id),
            "client_order_id": order.client_order_id,
            "datetime": order.created.strftime("%Y-%m-%d %H:%M:%S"),
            "type": "0" if order.side == "buy" else "1",
            "amount": f"{order.amount:.8f}",
            "currency_pair": order.market.name,
        }
        if order.price is not None:
            data["price"] = f"{order.price:.8f}"
        if full:
            data.update(
                status=order.status,
                market=order.market.name,
                amount_remaining=f"{order.remaining():.8f}",
                transactions=order.transactions,
            )
        return data

    def find_order(self, key: str, form: dict[str, str]) -> SimOrder:
        with self.lock:
            for order in self.orders:
                if order.owner != key:
                    continue
                if form.get("id") and str(order.id) == form["id"]:
                    return order
                if form.get("client_order_id") and order.client_order_id == form.get(
                    "client_order_id"
                ):
                    return order
        raise ApiError(200, _error("Order not found."))

    def authenticate(self, handler: BaseHTTPRequestHandler, method: str, body: str) -> str:
        """Check Bitstamp's v2 X-Auth headers as ccxt computes them; return the API key."""
        x_auth = handler.headers.get("X-Auth", "")
        key = x_auth.removeprefix("BITSTAMP ")
        secret = self.accounts.get(key)
        if not x_auth.startswith("BITSTAMP ") or secret is None:
            raise ApiError(
                200, {"status": "error", "reason": "API key not found", "code": "API0005"}
            )
        url = f"http://{handler.headers.get('Host', '')}{handler.path}"
        message = (
            x_auth
            + method
            + url
            + handler.headers.get("Content-Type", "")
            + handler.headers.get("X-Auth-Nonce", "")
            + handler.headers.get("X-Auth-Timestamp", "")
            + handler.headers.get("X-Auth-Version", "")
            + body
        )
        expected = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, handler.headers.get("X-Auth-Signature", "").lower()):
            raise ApiError(
                200, {"status": "error", "reason": "Invalid signature", "code": "API0005"}
            )
        return key


class _Server(ThreadingHTTPServer):
    # The default backlog of 5 drops connections when a round opens a hundred at once.
    request_queue_size = 1024


class ApiError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def _error(reason: str) -> dict[str, Any]:
    return {"status": "error", "reason": {"__all__": [reason]}}


def _handler_for(sim: SimulatedExchange) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "TickworkSimulator/1.0"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            self.handle_request("GET")

        def do_POST(self) -> None:
            self.handle_request("POST")

        def do_DELETE(self) -> None:
            self.handle_request("DELETE")

        def handle_request(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            parts = urlsplit(self.path)
            path = parts.path
            with sim.lock:
                sim.request_log.append((time.monotonic(), method, self.path))
            if path.startswith("/_control/"):
                self.control(method, path, body)
                return
            if sim.latency:
                time.sleep(sim.latency)
            fault = sim.take_fault(path, {"rate_limit", "server_error", "slow", "malformed"})
            if fault is not None and self.apply_fault(fault):
                return
            try:
                status, payload = self.route(method, path, parts.query, body)
            except ApiError as error:
                status, payload = error.status, error.body
            self.send_json(status, payload)

        def apply_fault(self, fault: Fault) -> bool:
            """Answer with the fault; False when the request then proceeds normally (slow)."""
            if fault.kind == "rate_limit":
                retry_after = str(fault.options.get("retry_after", 1))
                self.send_raw(429, b"Too Many Requests", "text/plain", {"Retry-After": retry_after})
            elif fault.kind == "server_error":
                html = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
                self.send_raw(int(fault.options.get("status", 502)), html, "text/html")
            elif fault.kind == "malformed":
                self.send_raw(200, b'{"data": {"pair": "BTC/USD", "ohlc": [{"timestamp": ', "")
            else:
                time.sleep(float(fault.options.get("delay", 2.0)))
                return False
            return True

        def route(self, method: str, path: str, query: str, body: str) -> tuple[int, Any]:
            segments = [s for s in path.split("/") if s]
            if segments[:2] != ["api", "v2"] or len(segments) < 3:
                return 404, {"error": "Not found"}
            name, rest = segments[2], segments[3:]
            if method == "GET" and name == "markets":
                return 200, sim.markets_json()
            if method == "GET" and name == "ticker":
                if not rest:
                    return 200, [self.corrupt(sim.ticker_json(m), path) for m in sim.listed()]
                return 200, self.corrupt(sim.ticker_json(self.market(rest[0])), path)
            if method == "GET" and name == "ohlc" and rest:
                q = {k: v[0] for k, v in parse_qs(query).items()}
                data = sim.ohlc_json(self.market(rest[0]), q, path)
                self.corrupt_candles(data["data"]["ohlc"], path)
                return 200, data
            if method != "POST":
                return 404, {"error": "Not found"}
            key = sim.authenticate(self, method, body)
            form = {k: v[0] for k, v in parse_qs(body).items()}
            if name == "account_balances":
                with sim.lock:
                    return 200, sim.balances_json(key)
            if name in ("buy", "sell") and rest:
                kind = "market" if rest[0] == "market" else "limit"
                market = self.market(rest[-1])
                order = sim.create_order(key, market, name, kind, form)
                slow = sim.take_fault(path, {"slow_create"})
                if slow is not None:
                    time.sleep(float(slow.options.get("delay", 3.0)))
                return 200, sim.order_json(order, full=False)
            if name == "order_status":
                with sim.lock:
                    return 200, sim.order_json(sim.find_order(key, form), full=True)
            return 404, {"error": "Not found"}

        def market(self, pair: str) -> SimMarket:
            market = sim.markets.get(pair)
            if market is None or pair in sim.delisted:
                raise ApiError(404, {"errors": [{"field": "pair", "message": "Unknown pair."}]})
            return market

        def corrupt(self, ticker: dict[str, str], path: str) -> dict[str, str]:
            fault = sim.take_fault(path, {"bad_values"})
            if fault is not None:
                self.replace(ticker, fault.options.get("field", "last"), fault)
            return ticker

        def corrupt_candles(self, candles: list[dict[str, str]], path: str) -> None:
            if not candles:
                return
            fault = sim.take_fault(path, {"bad_values", "misaligned"})
            if fault is None:
                return
            candle = candles[len(candles) // 2]
            if fault.kind == "misaligned":
                candle["timestamp"] = str(int(candle["timestamp"]) + 30)
            else:
                self.replace(candle, fault.options.get("field", "volume"), fault)

        @staticmethod
        def replace(row: dict[str, str], key: str, fault: Fault) -> None:
            value = fault.options.get("value", "-1")
            if value is None:
                row.pop(key, None)
            else:
                row[key] = value

        def control(self, method: str, path: str, body: str) -> None:
            data = json.loads(body) if body else {}
            if path == "/_control/faults" and method == "POST":
                data = dict(data)
                sim.add_fault(data.pop("kind"), data.pop("times", 1), data.pop("path", ""), **data)
            elif path == "/_control/faults" and method == "DELETE":
                sim.clear_faults()
            elif path == "/_control/clock" and method == "POST":
                sim.advance_clock(float(data.get("advance", 0)))
            elif path == "/_control/delist" and method == "POST":
                sim.delist(data["symbol"])
            else:
                self.send_json(404, {"error": "unknown control"})
                return
            self.send_json(200, {"ok": True})

        def send_json(self, status: int, payload: Any) -> None:
            self.send_raw(status, json.dumps(payload).encode(), "application/json")

        def send_raw(
            self,
            status: int,
            body: bytes,
            content_type: str,
            headers: dict[str, str] | None = None,
        ) -> None:
            try:
                self.send_response(status)
                if content_type:
                    self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                # The client gave up (a timeout fault): nothing left to answer.
                self.close_connection = True

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m marketdata.simulator", description=__doc__)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--account",
        action="append",
        default=[],
        metavar="KEY:SECRET",
        help="an API key and secret it accepts (repeatable); default demo-key:demo-secret",
    )
    parser.add_argument("--markets", type=int, default=0, help="extra synthetic markets")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per request")
    options = parser.parse_args(argv)
    accounts = dict(pair.split(":", 1) for pair in options.account) or dict([DEMO_ACCOUNT])
    sim = SimulatedExchange(
        options.port, accounts, options.markets, options.latency, host=options.host
    )
    print(f"Simulated exchange (Bitstamp v2) on {sim.url}", flush=True)
    try:
        sim.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sim.server.server_close()


if __name__ == "__main__":
    main()

"""The simulator's HTTP side: Bitstamp v2 routes, injected faults and the control endpoints."""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from marketdata.simulator.prices import SimMarket
from marketdata.simulator.records import ApiError, Fault

if TYPE_CHECKING:
    from marketdata.simulator.exchange import SimulatedExchange


class Server(ThreadingHTTPServer):
    """Serves one simulated exchange to each request's `Handler`."""

    # The default backlog of 5 drops connections when a round opens a hundred at once.
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], sim: SimulatedExchange) -> None:
        super().__init__(address, Handler)
        self.sim = sim


class Handler(BaseHTTPRequestHandler):
    """Bitstamp v2 routes over the `SimulatedExchange` its server carries."""

    server: Server

    @property
    def sim(self) -> SimulatedExchange:
        return self.server.sim

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
        """Answer, and record how long the request was in flight (its window)."""
        started = time.monotonic()
        try:
            self.answer(method)
        finally:
            with self.sim.lock:
                self.sim.request_windows.append((started, time.monotonic(), method, self.path))

    def answer(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        parts = urlsplit(self.path)
        path = parts.path
        with self.sim.lock:
            self.sim.request_log.append((time.monotonic(), method, self.path))
        if path.startswith("/_control/"):
            self.control(method, path, body)
            return
        if self.sim.latency:
            time.sleep(self.sim.latency)
        fault = self.sim.take_fault(path, {"rate_limit", "server_error", "slow", "malformed"})
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
            return 200, self.sim.markets_json()
        if method == "GET" and name == "ticker":
            if not rest:
                return 200, [self.corrupt(self.sim.ticker_json(m), path) for m in self.sim.listed()]
            return 200, self.corrupt(self.sim.ticker_json(self.market(rest[0])), path)
        if method == "GET" and name == "ohlc" and rest:
            q = {k: v[0] for k, v in parse_qs(query).items()}
            data = self.sim.ohlc_json(self.market(rest[0]), q, path)
            self.corrupt_candles(data["data"]["ohlc"], path)
            return 200, data
        if method != "POST":
            return 404, {"error": "Not found"}
        key = self.sim.authenticate(self, method, body)
        form = {k: v[0] for k, v in parse_qs(body).items()}
        if name == "account_balances":
            with self.sim.lock:
                return 200, self.sim.balances_json(key)
        if name in ("buy", "sell") and rest:
            kind = "market" if rest[0] == "market" else "limit"
            market = self.market(rest[-1])
            order = self.sim.create_order(key, market, name, kind, form)
            slow = self.sim.take_fault(path, {"slow_create"})
            if slow is not None:
                time.sleep(float(slow.options.get("delay", 3.0)))
            return 200, self.sim.order_json(order, full=False)
        if name == "order_status":
            with self.sim.lock:
                return 200, self.sim.order_json(self.sim.find_order(key, form), full=True)
        return 404, {"error": "Not found"}

    def market(self, pair: str) -> SimMarket:
        market = self.sim.markets.get(pair)
        if market is None or pair in self.sim.delisted:
            raise ApiError(404, {"errors": [{"field": "pair", "message": "Unknown pair."}]})
        return market

    def corrupt(self, ticker: dict[str, str], path: str) -> dict[str, str]:
        fault = self.sim.take_fault(path, {"bad_values"})
        if fault is not None:
            self.replace(ticker, fault.options.get("field", "last"), fault)
        return ticker

    def corrupt_candles(self, candles: list[dict[str, str]], path: str) -> None:
        if not candles:
            return
        fault = self.sim.take_fault(path, {"bad_values", "misaligned"})
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
            self.sim.add_fault(data.pop("kind"), data.pop("times", 1), data.pop("path", ""), **data)
        elif path == "/_control/faults" and method == "DELETE":
            self.sim.clear_faults()
        elif path == "/_control/clock" and method == "POST":
            self.sim.advance_clock(float(data.get("advance", 0)))
        elif path == "/_control/delist" and method == "POST":
            self.sim.delist(data["symbol"])
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

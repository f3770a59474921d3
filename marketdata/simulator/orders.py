"""The simulator's private side: balances, orders and fills, and Bitstamp's request signing."""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from http.server import BaseHTTPRequestHandler
from typing import Any

from marketdata.simulator.prices import PriceSeries, SimMarket
from marketdata.simulator.records import ApiError, SimOrder, _error

FEE_RATE = Decimal("0.003")
MINIMUM_ORDER_VALUE = Decimal(10)
DEFAULT_BALANCES = {"usd": "100000", "btc": "2", "eth": "20", "sol": "100", "ltc": "50"}


class AccountBook:
    """Accounts, their balances and orders; mixed into `SimulatedExchange`."""

    accounts: dict[str, str]
    balances: dict[str, dict[str, Decimal]]
    orders: list[SimOrder]
    lock: threading.RLock
    series: PriceSeries
    now: Callable[[], float]
    _next_order_id: int

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
        amount, price = _amount_and_price(form, kind)
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


def _amount_and_price(form: dict[str, str], kind: str) -> tuple[Decimal, Decimal | None]:
    try:
        amount = Decimal(form["amount"])
        price = Decimal(form["price"]) if kind == "limit" else None
    except (KeyError, ArithmeticError):
        raise ApiError(200, _error("Invalid amount or price.")) from None
    if not amount.is_finite() or amount <= 0 or (price is not None and price <= 0):
        raise ApiError(200, _error("Invalid amount or price."))
    return amount, price

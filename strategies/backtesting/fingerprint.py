"""A backtest's fingerprint: `trades_hash` over its trades, its parameters and its code."""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from strategies.engine import BaseStrategy
from strategies.trades import Fill


def code_version(cls: type[BaseStrategy]) -> str:
    """The strategy class's source, hashed: a changed `decide()` is another version."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        source = f"{cls.__module__}.{cls.__qualname__}"
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def trades_hash(fills: Iterable[Fill], *, code: str, parameters: Mapping[str, Any]) -> str:
    """SHA-256 over the ordered fills (tick, side, amount, price, fee), the code version and
    the parameters: two runs with an equal hash traded identically with the same strategy."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"code": code, "parameters": parameters}, sort_keys=True).encode())
    lines = [
        f"{fill.time.timestamp()!r}|{fill.side}|{_plain(fill.amount)}|{_plain(fill.price)}|"
        f"{_plain(fill.fee)}\n"
        for fill in fills
    ]
    digest.update("".join(lines).encode())
    return digest.hexdigest()


def _plain(value: Decimal) -> str:
    """A decimal by its value, not its form: 1.50 and 1.5 hash alike (stored vs computed)."""
    return str(value.normalize()) if value else "0"

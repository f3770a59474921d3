"""The simulator's markets and their deterministic, market-looking price series."""

from __future__ import annotations

import hashlib
import math
import zlib
from dataclasses import dataclass

STEPS = {60, 180, 300, 900, 1800, 3600, 7200, 14400, 21600, 43200, 86400, 259200}


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

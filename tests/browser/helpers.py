"""Helpers of the browser tests: screenshots kept as artifacts, logging in, candles to chart."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from django.utils import timezone

# The conftest imports this module before Django is set up: models are imported where used.
if TYPE_CHECKING:
    from playwright.sync_api import Page

    from marketdata.models import Market

ARTIFACTS = Path(__file__).parent / "artifacts"


def shot(page: Page, name: str) -> Path:
    """A screenshot of the page as it is now, kept as a test artifact."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


PASSWORD = "a-long-browser-password"
# Any non-blank pixel in the chart's canvases: drawn, not just laid out.
CANVAS_HAS_CONTENT = """() => [...document.querySelectorAll('#price-chart canvas')].some((c) => {
  const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) return true;
  return false;
})"""


def hourly_candles(market: Market, count: int = 240) -> None:
    """A seeded random walk of closed hourly candles ending at the latest hour (fresh data)."""
    from marketdata.models import Candle

    rng = random.Random(14)
    end = timezone.now().replace(minute=0, second=0, microsecond=0)
    price, candles = 60_000.0, []
    for index in range(count):
        close = price * (1 + rng.gauss(0, 0.006))
        high, low = max(price, close) * 1.002, min(price, close) * 0.998
        candles.append(
            Candle(
                market=market,
                timeframe="1h",
                open_time=end - timedelta(hours=count - index),
                **{
                    k: Decimal(f"{v:.2f}")
                    for k, v in zip(
                        ["open", "high", "low", "close"], (price, high, low, close), strict=True
                    )
                },
                volume=Decimal(rng.randint(1, 50)),
                is_closed=True,
            )
        )
        price = close
    Candle.objects.bulk_create(candles)


def log_in(page: Page, base: str, username: str = "trader") -> None:
    """Log in to the admin as a new superuser."""
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_superuser(username, f"{username}@example.com", PASSWORD)
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")

"""A backtest in a real browser: created in the admin, its progress watched on its page while
a real `backtests` worker runs it, the chart and trade list drawn, a paper strategy made."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from strategies.backtesting.models import Backtest
from strategies.models import Strategy
from tests.browser.helpers import CANVAS_HAS_CONTENT, hourly_candles, log_in, shot
from tests.factories import MarketFactory
from tests.processes import ManagedProcess, start_celery_worker

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("plain_static_files"),
]


@pytest.fixture
def backtests_worker() -> Iterator[ManagedProcess]:
    worker = start_celery_worker(concurrency=1, queues="backtests")
    yield worker
    worker.stop()


def test_a_trader_backtests_watches_it_and_makes_it_a_paper_strategy(
    page: Page, live_server: object, backtests_worker: ManagedProcess
) -> None:
    base = str(live_server.url)  # type: ignore[attr-defined]
    market = MarketFactory()
    hourly_candles(market, count=240)
    log_in(page, base)

    page.goto(f"{base}/admin/strategies/backtest/add/")
    page.fill("#id_market", str(market.pk))
    page.select_option("#id_kind", "sma_crossover")
    page.select_option("#id_timeframe", "1h")
    page.fill("#id_parameters", '{"fast": 3, "slow": 8}')
    page.uncheck("#id_backfill")  # the stored candles only: this market's exchange is a stub
    page.click("input[name=_save]")
    page.wait_for_selector("#progress")
    first_seen = page.get_attribute("#progress", "data-status")
    page.wait_for_selector("#progress[data-status=succeeded]", timeout=90_000)
    page.wait_for_selector("#price-chart[data-drawn=true]")
    page.wait_for_function(CANVAS_HAS_CONTENT)
    shot(page, "backtest-page")
    rows = page.locator("#trades tbody tr").count()
    figures = page.inner_text("#figures")

    backtest = Backtest.objects.get(market=market)
    assert first_seen in {"pending", "running", "succeeded"}
    assert backtest.status == Backtest.Status.SUCCEEDED
    assert rows == min(backtest.trades.count(), 50) > 0
    assert "Sharpe" in figures
    assert "Max drawdown" in figures

    page.click("#to-strategy button")
    page.wait_for_selector(".messagelist .success")
    strategy = Strategy.objects.get(from_backtest=backtest)
    assert (strategy.mode, strategy.is_active) == (Strategy.Mode.PAPER, False)
    assert strategy.parameters == backtest.used_parameters
    assert f"/admin/strategies/strategy/{strategy.pk}/change/" in page.url

"""A sweep in a real browser: defined in the admin, run by a real backtest worker, its page
watched until done, the heatmap drawn, the best set promoted to a paper strategy."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from strategies.sweeps.models import Sweep, SweepPromotion
from tests.browser.helpers import log_in, shot
from tests.factories import MarketFactory
from tests.processes import start_celery_worker
from tests.sweeps.helpers import candles_add, closes_path

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("plain_static_files"),
]
SPACE = {"fast": {"values": [2, 3, 5]}, "slow": {"min": 10, "max": 30, "step": 10}}


def define_sweep(page: Page, base: str, market_id: int) -> None:
    page.goto(f"{base}/admin/strategies/sweep/add/")
    page.fill("#id_name", "browser sweep")
    page.select_option("#id_kind", "sma_crossover")
    page.select_option("#id_market", str(market_id))
    page.select_option("#id_timeframe", "1h")
    page.fill("#id_start_0", "2026-01-03")
    page.fill("#id_start_1", "00:00:00")
    page.fill("#id_end_0", "2026-01-26")
    page.fill("#id_end_1", "00:00:00")
    page.fill("#id_space", json.dumps(SPACE))
    page.select_option("#id_objective", "total_return")
    page.fill("#id_chunk_size", "3")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")


def test_a_sweep_runs_its_heatmap_is_drawn_and_a_set_is_promoted(
    page: Page, live_server: object
) -> None:
    base = str(live_server.url)  # type: ignore[attr-defined]
    market = MarketFactory()
    candles_add(market, closes_path(600))
    log_in(page, base, username="quant")
    worker = start_celery_worker(concurrency=2, queues="backtests")
    try:
        define_sweep(page, base, market.pk)
        page.click("text=heatmap & folds")
        page.wait_for_selector("#status:has-text('Done')", timeout=120_000)
    finally:
        worker.stop()
    sweep = Sweep.objects.get(name="browser sweep")

    cells = page.locator("#heatmap svg rect.cell")
    values = [cells.nth(i).get_attribute("data-value") for i in range(cells.count())]
    shot(page, "sweep-page-done")
    assert page.locator("#progress-text").inner_text() == "9 of 9 sets (100.0 %)"
    assert cells.count() == 9  # 3 fast x 3 slow, every one drawn
    assert len({v for v in values if v != "n/a"}) > 1  # coloured by the figure
    assert page.locator("#heatmap svg").bounding_box()["width"] > 100

    best = page.locator("tr.top-set").first
    best_id = int(best.get_attribute("data-set"))
    best.locator("input[name=name]").fill("promoted from the browser")
    best.locator("button.promote").click()
    page.wait_for_selector("#strategy-page")

    promotion = SweepPromotion.objects.get()
    assert (promotion.sweep_id, promotion.sweep_set_id) == (sweep.pk, best_id)
    assert promotion.strategy.name == "promoted from the browser"
    assert promotion.strategy.parameters == promotion.sweep_set.parameters

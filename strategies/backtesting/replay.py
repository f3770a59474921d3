"""The tick loop of a backtest: decide, size, guard and fill on paper, as a live paper run.

Sizing, minimums, guardrails and the paper fill are `strategies.ordering`'s, called here as
the paper broker calls them; this module only keeps the paper book and the day's order count
between ticks, as the database does for a live strategy.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING

import numpy as np

from strategies.backtesting.candles import Candles
from strategies.backtesting.grid import tick_time
from strategies.candle_rules import candles_enough, candles_fresh, price_fresh
from strategies.engine import Action, BaseStrategy, Signal
from strategies.engine.safety import strategy_decide
from strategies.ordering import (
    PaperBook,
    Refusal,
    guardrail_refusal,
    order_terms,
    paper_fill,
)
from strategies.trades import Fill

if TYPE_CHECKING:
    from strategies.backtesting.engine import BacktestSpec

DAY_S = 86_400


def tradable_ticks(
    candles: Candles, ticks: np.ndarray, counts: np.ndarray, *, needed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Which ticks a live run decides on, and at which it may also fill on paper: the live
    run's own rules (`strategies.candle_rules`), called over the arrays. A tick with no closed
    candle has none fresh; the price a fill takes is the newest closed candle's close."""
    newest = np.where(
        counts > 0, candles.close_s[np.maximum(counts - 1, 0)], np.iinfo(np.int64).min // 2
    )
    age = ticks - newest
    usable = candles_enough(counts, needed) & candles_fresh(age, candles.duration_s)
    return usable, usable & price_fresh(age, candles.duration_s)


class Replay:
    """The paper book and the day's orders, moved tick by tick; the fills it made."""

    def __init__(
        self, *, spec: BacktestSpec, candles: Candles, instance: BaseStrategy, needed: int
    ) -> None:
        self.spec, self.candles, self.instance, self.needed = spec, candles, instance, needed
        self.book = PaperBook(Decimal(0), spec.capital, None, Decimal(0))
        self.fills: list[Fill] = []
        self.fill_ticks: list[int] = []  # the index of each fill's tick
        self.books: list[PaperBook] = []  # the book after each fill
        self.refusals: Counter[str] = Counter()
        self._day, self._orders_today = -1, 0

    def run(
        self,
        ticks: np.ndarray,
        counts: np.ndarray,
        usable: np.ndarray,
        tradable: np.ndarray,
        *,
        fast: tuple[np.ndarray, dict[int, Signal]] | None,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        """Every usable tick in order: its signal (fast or by `decide()`), then the order;
        `progress` about every 1% of the ticks (see `engine.Progress`)."""
        codes, fixed = fast if fast is not None else (np.zeros(len(ticks), dtype=np.int8), {})
        picked = (
            np.flatnonzero(usable & (codes != 0)) if fast is not None else np.flatnonzero(usable)
        )
        # Plain lists: indexing numpy arrays one item at a time costs more than the work.
        rows = zip(
            picked.tolist(),
            counts[picked].tolist(),
            codes[picked].tolist(),
            tradable[picked].tolist(),
            ticks[picked].tolist(),
            strict=True,
        )
        bars, needed, order, hold = self.candles.bars, self.needed, self._order, Action.HOLD
        # Progress in candles read: those closed by the tick reached, of those the last reads.
        total = int(counts[-1]) if len(counts) else 0
        step = max(1, len(ticks) // 100)
        mark = step
        for index, end, code, can_fill, tick in rows:
            if index >= mark:
                mark = index + step
                gc.collect(0)  # the cycles the last 1% of ticks left (engine.cycles_uncollected)
                if progress is not None:
                    progress(end, total)
            signal = fixed.get(code) or strategy_decide(self.instance, bars[end - needed : end])
            if can_fill and signal.action is not hold:
                order(index, tick, signal, bars[end - 1].close)
        if progress is not None:
            progress(total, total)

    def _order(self, index: int, tick: int, signal: Signal, price: Decimal) -> None:
        """Size, guard and fill one signal on paper (as `order_plan_of` and the paper broker
        do), or count why not. One frame per order: a DCA backtest runs it on every candle."""
        spec, book = self.spec, self.book
        terms = order_terms(spec.rules, signal, price=price, held=book.base)
        if isinstance(terms, Refusal):
            self.refusals[_kind(terms)] += 1
            return
        if tick // DAY_S != self._day:
            self._day, self._orders_today = tick // DAY_S, 0
        refusal = guardrail_refusal(
            side=terms.side,
            amount=terms.amount,
            held=book.base,
            max_position=spec.max_position,
            orders_today=self._orders_today,
            max_orders_per_day=spec.max_orders_per_day,
        )
        filled = refusal or paper_fill(spec.rules, book, terms, fee_rate=spec.fee_rate)
        if isinstance(filled, Refusal):
            self.refusals[_kind(filled)] += 1  # a rejected order is not counted for the day
            return
        self.book = filled.book
        self._orders_today += 1
        side, amount, price = terms
        self.fills.append(Fill(tick_time(tick), side, amount, price, filled.fee))
        self.fill_ticks.append(index)
        self.books.append(filled.book)


def _kind(refusal: Refusal) -> str:
    """A refusal's reason without its figures, to count alike ones together."""
    return refusal.reason.partition(":")[0]

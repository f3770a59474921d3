"""The anchors of bench/backtest.py: backtrader and backtesting.py running our SMA crossover
rule on the same candles, filling at the signal's close, each returning its closed trades."""

from __future__ import annotations

import math
from typing import Any

FAST, SLOW = 10, 30


def _frame(rows: list[tuple]) -> Any:
    import pandas as pd

    frame = pd.DataFrame(
        [[float(v) for v in row[1:6]] for row in rows],
        columns=["Open", "High", "Low", "Close", "Volume"],
        index=pd.DatetimeIndex([row[0] for row in rows]).tz_localize(None),
    )
    return frame


def backtrader_trades(rows: list[tuple]) -> int:
    """backtrader 1.9 with cheat-on-close (a market order fills at its bar's close)."""
    import backtrader as bt

    class Crossover(bt.Strategy):
        def __init__(self) -> None:
            self.fast = bt.ind.SMA(self.data.close, period=FAST)
            self.slow = bt.ind.SMA(self.data.close, period=SLOW)

        def next(self) -> None:
            now, before = self.fast[0] - self.slow[0], self.fast[-1] - self.slow[-1]
            if math.isnan(before):
                return
            if before <= 0 < now:
                self.buy(size=100 / self.data.close[0])
            elif before >= 0 > now and self.position:
                self.close()

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=_frame(rows)))
    cerebro.addstrategy(Crossover)
    cerebro.broker.setcash(10_000)
    cerebro.broker.setcommission(commission=0.001)
    cerebro.broker.set_coc(True)
    cerebro.addanalyzer(bt.analyzers.TradeAnalyzer, _name="trades")
    result = cerebro.run()[0]
    return int(result.analyzers.trades.get_analysis().total.closed)


def backtesting_py_trades(rows: list[tuple]) -> int:
    """backtesting.py 0.6 with trade_on_close (orders fill at the signal bar's close)."""
    import pandas as pd
    from backtesting import Backtest, Strategy

    def sma(values: Any, period: int) -> Any:
        return pd.Series(values).rolling(period).mean().to_numpy()

    class Crossover(Strategy):
        def init(self) -> None:
            self.fast = self.I(sma, self.data.Close, FAST)
            self.slow = self.I(sma, self.data.Close, SLOW)

        def next(self) -> None:
            if len(self.data) < SLOW + 1:
                return
            now = self.fast[-1] - self.slow[-1]
            before = self.fast[-2] - self.slow[-2]
            if before <= 0 < now:
                self.buy(size=0.01)
            elif before >= 0 > now and self.position:
                self.position.close()

    test = Backtest(_frame(rows), Crossover, cash=10_000_000, commission=0.001,
                    trade_on_close=True, finalize_trades=False)  # fmt: skip
    stats = test.run()
    return int(stats["# Trades"])

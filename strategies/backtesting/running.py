"""Running a stored backtest: backfill its candles, replay it, store its results; progress and
cancellation on its row. Safe to run again (a redelivered task recomputes and rewrites)."""

from __future__ import annotations

import logging
from decimal import Decimal

from celery.exceptions import SoftTimeLimitExceeded
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from marketdata.exchanges import ExchangeError
from marketdata.models import TIMEFRAME_DURATIONS
from project.kernel.decimals import STORED_STEP
from strategies.backtesting.candles import candles_load
from strategies.backtesting.engine import (
    BacktestResult,
    BacktestSpec,
    backtest_run,
    candles_required,
)
from strategies.backtesting.history import candles_backfill
from strategies.backtesting.models import Backtest, BacktestFill, BacktestTrade
from strategies.errors import StrategyError
from strategies.ordering import MarketRules
from strategies.trades import Trade

logger = logging.getLogger(__name__)
Status = Backtest.Status
BATCH = 5000
PCT_STEP = Decimal("0.000001")


class BacktestCancelled(Exception):
    """The owner asked the backtest to stop."""


def backtest_execute(*, backtest_id: int) -> str:
    """Run the backtest unless it has finished; its final status. Failures of the strategy,
    its data or the exchange are recorded on the row, never raised."""
    backtest = Backtest.objects.select_related("market", "market__exchange").get(pk=backtest_id)
    if backtest.is_finished:
        return backtest.status
    Backtest.objects.filter(pk=backtest_id).update(
        status=Status.RUNNING, started_at=timezone.now(), error=""
    )
    try:
        result = _replay(backtest)
    except BacktestCancelled:
        return _end(backtest_id, Status.CANCELLED)
    except SoftTimeLimitExceeded:
        return _end(backtest_id, Status.FAILED, "time limit reached (BACKTEST_SOFT_TIME_LIMIT)")
    except (StrategyError, ExchangeError, ValidationError, ValueError) as error:
        return _end(backtest_id, Status.FAILED, f"{type(error).__name__}: {error}")
    backtest_store(backtest, result)
    return Status.SUCCEEDED


def spec_of(backtest: Backtest) -> BacktestSpec:
    """The engine's spec of a stored backtest, with its market's order rules."""
    return BacktestSpec(
        kind=backtest.kind,
        parameters=backtest.parameters,
        timeframe=backtest.timeframe,
        start=backtest.start,
        end=backtest.end,
        trigger=backtest.trigger,
        capital=backtest.capital,
        fee_rate=Decimal(backtest.fee_rate),
        max_position=backtest.max_position,
        max_orders_per_day=backtest.max_orders_per_day,
        rules=MarketRules.from_market(backtest.market),
    )


def _replay(backtest: Backtest) -> BacktestResult:
    spec = spec_of(backtest)
    needed = candles_required(spec)
    if backtest.backfill:
        _progress(backtest.pk, stage="backfill", pct=0)
        candles_backfill(
            market_id=backtest.market_id,
            timeframe=backtest.timeframe,
            start=backtest.start - TIMEFRAME_DURATIONS[backtest.timeframe] * (needed + 1),
            end=backtest.end,
            progress=lambda done, total: _progress(
                backtest.pk, stage="backfill", pct=10 * done / max(total, 1)
            ),
        )
    candles = candles_load(
        market_id=backtest.market_id,
        timeframe=backtest.timeframe,
        start=backtest.start,
        end=backtest.end,
        warmup=needed,
    )
    Backtest.objects.filter(pk=backtest.pk).update(candles_total=len(candles), stage="replay")
    return backtest_run(
        spec,
        candles,
        progress=lambda done, total: _progress(
            backtest.pk, stage="replay", pct=10 + 90 * done / max(total, 1), candles=(done, total)
        ),
    )


def _progress(
    backtest_id: int, *, stage: str, pct: float, candles: tuple[int, int] | None = None
) -> None:
    """Store how far it is (`candles`: the engine's count read so far, of all it will read);
    raise BacktestCancelled if its owner asked it to stop."""
    changes: dict[str, object] = {"stage": stage, "progress_pct": round(pct, 2)}
    if candles is not None:
        changes["candles_done"], changes["candles_total"] = candles
    Backtest.objects.filter(pk=backtest_id).update(**changes)
    if Backtest.objects.filter(pk=backtest_id, cancel_requested=True).exists():
        raise BacktestCancelled


def _end(backtest_id: int, status: str, error: str = "") -> str:
    Backtest.objects.filter(pk=backtest_id).update(
        status=status, error=error, finished_at=timezone.now()
    )
    logger.info("backtest %s %s %s", backtest_id, status, error)
    return status


@transaction.atomic
def backtest_store(backtest: Backtest, result: BacktestResult) -> None:
    """Write the results, its fills and trades, and end it succeeded (replacing what an
    earlier delivery of the same backtest may have written)."""
    BacktestFill.objects.filter(backtest=backtest).delete()
    BacktestTrade.objects.filter(backtest=backtest).delete()
    BacktestFill.objects.bulk_create(
        (
            BacktestFill(backtest=backtest, seq=seq, tick=f.time, side=f.side,
                         amount=f.amount, price=f.price, fee=f.fee)
            for seq, f in enumerate(result.fills)
        ),
        batch_size=BATCH,
    )  # fmt: skip
    BacktestTrade.objects.bulk_create(
        (_trade_row(backtest, seq, trade) for seq, trade in enumerate(result.trades)),
        batch_size=BATCH,
    )
    Backtest.objects.filter(pk=backtest.pk).update(
        status=Status.SUCCEEDED,
        figures=result.figures,
        equity=[[moment.isoformat(), value] for moment, value in result.equity],
        refusals=result.refusals,
        used_parameters=result.parameters,
        trades_hash=result.trades_hash,
        code_version=result.code_version,
        ticks=result.ticks,
        progress_pct=100,
        candles_done=result.candles,
        candles_total=result.candles,
        finished_at=timezone.now(),
    )


def _trade_row(backtest: Backtest, seq: int, trade: Trade) -> BacktestTrade:
    duration = trade.duration
    return BacktestTrade(
        backtest=backtest,
        seq=seq,
        entry_time=trade.entry_time,
        exit_time=trade.exit_time,
        amount=trade.amount,
        entry_price=_stored(trade.entry_price),
        exit_price=None if trade.exit_price is None else _stored(trade.exit_price),
        profit=None if trade.profit is None else _stored(trade.profit),
        profit_pct=None if trade.profit_pct is None else trade.profit_pct.quantize(PCT_STEP),
        duration_seconds=None if duration is None else int(duration.total_seconds()),
        fees=_stored(trade.fees),
    )


def _stored(value: Decimal) -> Decimal:
    """To the places the columns keep (a weighted entry price may have more)."""
    return value.quantize(STORED_STEP)

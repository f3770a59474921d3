"""Backtest writes: create one (and send it to the `backtests` queue), run it, cancel it, and
turn a finished one into a paper strategy."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from project.celery import app
from strategies.backtesting.models import Backtest
from strategies.models import Strategy
from strategies.services import strategy_create

logger = logging.getLogger(__name__)

BACKTESTS_QUEUE = "backtests"
RUN_TASK = "backtests.run"
# What a backtest is asked with, in form order.
FIELDS = (
    "market",
    "timeframe",
    "kind",
    "parameters",
    "interval_seconds",
    "crontab",
    "crontab_timezone",
    "start",
    "end",
    "capital",
    "fee_rate",
    "max_position",
    "max_orders_per_day",
    "backfill",
)
# A strategy's fields a backtest of it takes over.
STRATEGY_FIELDS = (
    "market",
    "timeframe",
    "kind",
    "parameters",
    "interval_seconds",
    "crontab",
    "crontab_timezone",
    "max_position",
    "max_orders_per_day",
)


@transaction.atomic
def backtest_create(
    *, owner: AbstractBaseUser, data: Mapping[str, Any], strategy: Strategy | None = None
) -> Backtest:
    """A pending backtest, sent to the `backtests` queue once committed.

    Raises ValidationError by field (parameters by the kind's schema, the trigger by the
    scheduling interface, the period), saving nothing.
    """
    unknown = set(data) - set(FIELDS)
    if unknown:
        raise ValueError(f"not backtest fields: {', '.join(sorted(unknown))}")
    backtest = Backtest(owner=owner, strategy=strategy, **data)
    backtest.full_clean()
    backtest.save()
    transaction.on_commit(lambda: backtest_send(backtest_id=backtest.pk))
    logger.info("backtest %s created for user %s", backtest.pk, owner.pk)
    return backtest


def backtest_send(*, backtest_id: int) -> str:
    """Send the backtest's task to the `backtests` queue; records and returns its task id."""
    result = app.send_task(RUN_TASK, args=[backtest_id], queue=BACKTESTS_QUEUE)
    Backtest.objects.filter(pk=backtest_id).update(celery_task_id=result.id)
    return result.id


def backtest_of_strategy(
    *, owner: AbstractBaseUser, strategy: Strategy, data: Mapping[str, Any]
) -> Backtest:
    """A backtest of `strategy` as it is set now, over the period and capital in `data`."""
    taken = {name: getattr(strategy, name) for name in STRATEGY_FIELDS}
    return backtest_create(owner=owner, data={**taken, **data}, strategy=strategy)


def backtest_cancel(*, backtest: Backtest) -> Backtest:
    """Ask a backtest to stop: a pending one is cancelled now, a running one at its next
    progress step (within 1% of its ticks)."""
    Backtest.objects.filter(pk=backtest.pk).update(cancel_requested=True)
    Backtest.objects.filter(pk=backtest.pk, status=Backtest.Status.PENDING).update(
        status=Backtest.Status.CANCELLED, finished_at=timezone.now()
    )
    backtest.refresh_from_db()
    return backtest


@transaction.atomic
def strategy_from_backtest(*, owner: AbstractBaseUser, backtest: Backtest, name: str) -> Strategy:
    """A stopped paper strategy with the backtest's kind, parameters, market, timeframe,
    trigger and guardrails, recording the backtest it came from.

    Raises ValidationError by field (e.g. a name already taken), saving nothing.
    """
    if backtest.status != Backtest.Status.SUCCEEDED:
        raise ValueError("only a finished backtest becomes a strategy")
    data = {name: getattr(backtest, name) for name in STRATEGY_FIELDS}
    data["parameters"] = backtest.used_parameters or backtest.parameters
    strategy = strategy_create(
        owner=owner, data={**data, "name": name, "mode": Strategy.Mode.PAPER}
    )
    strategy.from_backtest = backtest
    strategy.save(update_fields=["from_backtest"])
    return strategy

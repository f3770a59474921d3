"""What the outbox sends: strategy firings of one tick grouped per series, the rest as fired."""

from __future__ import annotations

import json

import pytest

from strategies.batch.series import SERIES_TASK
from strategies.services import EXECUTE_TASK
from tasks.scheduling.grouping import outgoing_messages
from tests.factories import MarketFactory, StrategyFactory

pytestmark = pytest.mark.django_db

TICK = "2026-12-01T12:00:00+00:00"


def firing(pk: int, strategy_id: int, tick: str = TICK, **extra: str) -> tuple[object, ...]:
    kwargs = json.dumps({"scheduled_tick": tick, **extra})
    return (
        pk,
        f"strategy_{strategy_id}@{tick}",
        EXECUTE_TASK,
        json.dumps([strategy_id]),
        kwargs,
        "",
    )


def test_a_ticks_strategies_on_one_series_go_as_one_message_naming_them(settings: object) -> None:
    market, other = MarketFactory(), MarketFactory()
    on_market = [StrategyFactory(market=market, timeframe="1m") for _ in range(3)]
    alone = StrategyFactory(market=other, timeframe="1m")
    rows = [firing(n, s.pk) for n, s in enumerate([*on_market, alone], start=1)]
    rows.append((9, "cleanup@x", "cleanup", "[]", "{}", ""))

    messages = outgoing_messages(rows)

    by_task = {message.task_id: message for message in messages}
    series = f"series_{market.exchange.name}:{market.symbol}_1m@2026-12-01T12:00:00Z"
    grouped = by_task[series]
    assert grouped.task == SERIES_TASK
    assert grouped.firing_ids == [1, 2, 3]
    assert grouped.kwargs == {
        "strategy_ids": [s.pk for s in on_market],
        "scheduled_tick": TICK,
        "series": f"{market.exchange.name}:{market.symbol}_1m",
    }
    assert by_task[f"strategy_{alone.pk}@{TICK}"].task == EXECUTE_TASK
    assert by_task["cleanup@x"].firing_ids == [9]
    assert len(messages) == 3


def test_ticks_triggers_and_batch_size_split_the_groups(settings: object) -> None:
    settings.STRATEGY_BATCH_MAX = 2
    market = MarketFactory()
    strategies = [StrategyFactory(market=market) for _ in range(7)]
    rows = [firing(n, s.pk) for n, s in enumerate(strategies[:5], start=1)]
    rows.append(firing(6, strategies[5].pk, trigger="catch_up"))
    rows.append(firing(7, strategies[6].pk, tick="2026-12-01T13:00:00+00:00"))

    messages = outgoing_messages(rows)

    grouped = [m for m in messages if m.task == SERIES_TASK]
    assert [m.firing_ids for m in grouped] == [[1, 2], [3, 4]]
    assert grouped[1].task_id == grouped[0].task_id + "#2"
    # The fifth of the tick, the catch-up and the other tick: each alone, sent as fired.
    singles = [m for m in messages if m.task == EXECUTE_TASK]
    assert sorted(m.firing_ids[0] for m in singles) == [5, 6, 7]


def test_with_batching_off_every_firing_goes_as_fired(settings: object) -> None:
    settings.STRATEGY_BATCHING = False
    market = MarketFactory()
    rows = [firing(n, StrategyFactory(market=market).pk) for n in (1, 2)]

    messages = outgoing_messages(rows)

    assert [m.task for m in messages] == [EXECUTE_TASK, EXECUTE_TASK]
    assert [m.args for m in messages] == [json.loads(row[3]) for row in rows]

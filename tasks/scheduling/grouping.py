"""What the outbox sends for its firings: strategy firings of one tick grouped per series.

With STRATEGY_BATCHING on, the pending firings of `execute_single_strategy` that share a tick,
a trigger, a queue and a series (market, timeframe) go out as one `execute_strategy_series`
message naming every strategy (at most STRATEGY_BATCH_MAX each), so the worker reads the
series once and writes its runs set-based (`strategies.batch`). Each strategy keeps its own
firing row, job and run: only the message is shared. A series with one strategy due, and
every other task, is sent as fired. Strategy messages store no task result (the runs they
record are their result, and the result row was a third of a run's database work). The
message's task id names the series and the tick,
`series_demo:BTC/USD_1m@2026-12-01T12:00:00Z`, derived from the firings, so a message
published again carries the same id.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings

from strategies.batch.series import SERIES_TASK, strategies_series
from strategies.services import EXECUTE_TASK
from tasks.scheduling.messages import tick_text
from tasks.scheduling.ticks import SCHEDULE

# Tasks whose scheduled messages store no result: the run rows they write are the result.
RESULTLESS = frozenset({EXECUTE_TASK, SERIES_TASK})
# The keys a strategy firing's kwargs may carry for it to be grouped (what the beat adds).
GROUPABLE_KWARGS = frozenset({"scheduled_tick", "trigger"})


@dataclass(frozen=True)
class Outgoing:
    """One message to publish and the firings it carries."""

    firing_ids: list[int]
    task_id: str
    task: str
    args: Any
    kwargs: Any
    queue: str
    # A strategy message stores no task result: its runs are its result (and cost less).
    ignore_result: bool = False


def outgoing_messages(rows: Sequence[tuple[Any, ...]]) -> list[Outgoing]:
    """The messages for pending firing rows `(id, task id, task, args, kwargs, queue)`."""
    if not settings.STRATEGY_BATCHING:
        return [_as_fired(row) for row in rows]
    strategy_of = {row[0]: sid for row in rows if (sid := _groupable(row)) is not None}
    series = strategies_series(strategy_ids=set(strategy_of.values())) if strategy_of else {}
    groups: dict[tuple[Any, ...], list[tuple[int, tuple[Any, ...]]]] = {}
    singles: list[Outgoing] = []
    for row in rows:
        strategy_id = strategy_of.get(row[0])
        if strategy_id is None or strategy_id not in series:
            singles.append(_as_fired(row))
            continue
        kwargs = _decoded(row[4])
        key = (series[strategy_id].name, kwargs["scheduled_tick"], _trigger(kwargs), row[5] or "")
        groups.setdefault(key, []).append((strategy_id, row))
    grouped = [message for key, members in groups.items() for message in _split(key, members)]
    return singles + grouped


def _split(key: tuple[Any, ...], members: list[tuple[int, tuple[Any, ...]]]) -> Iterable[Outgoing]:
    """A group's messages: chunks of STRATEGY_BATCH_MAX, by strategy id; one alone as fired."""
    name, tick, trigger, queue = key
    members = sorted(members, key=lambda member: member[0])
    size = settings.STRATEGY_BATCH_MAX
    for start in range(0, len(members), size):
        chunk = members[start : start + size]
        if len(chunk) == 1:
            yield _as_fired(chunk[0][1])
            continue
        task_id = series_task_id(name, datetime.fromisoformat(tick))
        if start:
            task_id += f"#{start // size + 1}"
        kwargs = {"strategy_ids": [sid for sid, _ in chunk], "scheduled_tick": tick}
        kwargs |= {"series": name} if trigger == SCHEDULE else {"series": name, "trigger": trigger}
        firings = [row[0] for _, row in chunk]
        yield Outgoing(firings, task_id, SERIES_TASK, [], kwargs, queue, ignore_result=True)


def series_task_id(series: str, tick: datetime) -> str:
    """The Celery task id of a series' unit of work: `series_demo:BTC/USD_1m@...Z`."""
    return f"series_{series}@{tick_text(tick)}"


def _groupable(row: tuple[Any, ...]) -> int | None:
    """The strategy id of a plain scheduled strategy firing, else None (sent as fired)."""
    _, _, task, args, kwargs, _ = row
    if task != EXECUTE_TASK:
        return None
    args, kwargs = _decoded(args), _decoded(kwargs)
    if not (isinstance(args, list) and len(args) == 1 and isinstance(args[0], int)):
        return None
    if not isinstance(kwargs, dict) or "scheduled_tick" not in kwargs:
        return None
    return args[0] if set(kwargs) <= GROUPABLE_KWARGS else None


def _trigger(kwargs: dict[str, Any]) -> str:
    return kwargs.get("trigger", SCHEDULE)


def _as_fired(row: tuple[Any, ...]) -> Outgoing:
    firing_id, task_id, task, args, kwargs, queue = row
    args, kwargs, quiet = _decoded(args), _decoded(kwargs), task in RESULTLESS
    return Outgoing([firing_id], task_id, task, args, kwargs, queue or "", ignore_result=quiet)


def _decoded(value: Any) -> Any:
    """Django's psycopg set-up hands raw SQL jsonb back as text."""
    return json.loads(value) if isinstance(value, str) else value

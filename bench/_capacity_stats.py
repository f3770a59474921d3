"""bench/capacity.py's figures per tick: runs per strategy, lateness of start and finish."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

PER_TICK = """
SELECT s.id, count(r.id), min(r.started_at), min(r.finished_at), min(r.status)
  FROM unnest(%s::bigint[]) AS s(id)
  LEFT JOIN strategies_strategyrun AS r ON r.strategy_id = s.id AND r.scheduled_tick = %s
 GROUP BY s.id
"""


# When the beat published each firing of the tick (only the phase's jobs fire at its ticks),
# and how often it published it again (the redelivery deadline passed before it started).
PUBLISHED = """
SELECT extract(epoch FROM published_at - scheduled_tick)::float, republished FROM tasks_firing
 WHERE scheduled_tick = %s AND published_at IS NOT NULL
"""


def percentile(values: list[float], share: float) -> float | None:
    """The nearest-rank percentile (`share` in 0..1) of `values`; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _spread(values: list[float]) -> dict[str, float | None]:
    shares = {"p50": 0.5, "p95": 0.95, "p99": 0.99, "max": 1.0}
    return {
        name: (None if (v := percentile(values, share)) is None else round(v, 3))
        for name, share in shares.items()
    }


def tick_figures(strategy_ids: list[int], tick: datetime) -> dict[str, Any]:
    """For one tick: strategies with exactly one run, none, several; the runs' statuses; how
    long after the tick their firings were published (and how many were published again) and
    the runs started and finished."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(PER_TICK, [strategy_ids, tick])
        rows = cursor.fetchall()
    counts = [row[1] for row in rows]
    statuses: dict[str, int] = {}
    for row in rows:
        if row[4] is not None:
            statuses[row[4]] = statuses.get(row[4], 0) + 1
    started = [(row[2] - tick).total_seconds() for row in rows if row[2] is not None]
    finished = [(row[3] - tick).total_seconds() for row in rows if row[3] is not None]
    with connection.cursor() as cursor:
        cursor.execute(PUBLISHED, [tick])
        firings = cursor.fetchall()
    published = [row[0] for row in firings]
    return {
        "tick": tick.isoformat(),
        "publish_lateness_s": _spread(published),
        "published_again": sum(1 for row in firings if row[1]),
        "exactly_one": counts.count(1),
        "none": counts.count(0),
        "several": sum(1 for count in counts if count > 1),
        "statuses": statuses,
        "start_lateness_s": _spread(started),
        "finish_lateness_s": _spread(finished),
    }


DONE = """
SELECT count(*) FROM strategies_strategyrun
 WHERE strategy_id = ANY(%s::bigint[]) AND scheduled_tick = ANY(%s::timestamptz[])
   AND finished_at IS NOT NULL
"""


def finished_runs(strategy_ids: list[int], ticks: list[datetime]) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(DONE, [strategy_ids, ticks])
        return cursor.fetchone()[0]

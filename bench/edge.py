"""What the task edge costs a beat firing: its start (lease, stamp, order check) and end (stamp,
unlock), against what every task already pays Celery for its result (django-celery-results'
`store_result`, one row per task), in the same run, blocks taking turns (ABBA).

`python bench/edge.py [--firings 2000]`; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._stack import django_on_ephemeral_stack

BLOCK = 100


def _firings(count: int) -> list[str]:
    """Published firings of `count` jobs, one tick each: no tick waits for another."""
    from tasks.models import Firing
    from tasks.scheduling.messages import firing_task_id

    tick = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
    rows = [
        Firing(
            job_name=f"bench-{n}",
            periodic_task_id=n,
            scheduled_tick=tick,
            task="health_check",
            celery_task_id=firing_task_id(f"bench-{n}", tick),
            created_at=tick,
            status="published",
            published_at=tick,
        )
        for n in range(count)
    ]
    Firing.objects.bulk_create(rows, batch_size=1000)
    return [row.celery_task_id for row in rows]


def _edge(task_id: str) -> None:
    from tasks.scheduling.starts import firing_finish, firing_start

    started = firing_start(task_id=task_id)
    firing_finish(firing_id=started.firing_id)


def _result(task_id: str) -> None:
    from celery import states

    from project.celery import app

    app.backend.store_result(f"r-{task_id}", {"run": 1, "status": "succeeded"}, states.SUCCESS)


def _timed(call: Callable[[str], None], ids: list[str], into: list[float]) -> None:
    for task_id in ids:
        started = time.perf_counter()
        call(task_id)
        into.append((time.perf_counter() - started) * 1000)


def _figures(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {"median_ms": round(statistics.median(ordered), 3), "p99_ms": round(p99, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--firings", type=int, default=2000)
    count = parser.parse_args().firings
    with django_on_ephemeral_stack():
        ids = _firings(count)
        ours: list[float] = []
        stock: list[float] = []
        for n, start in enumerate(range(0, count, BLOCK)):
            block = ids[start : start + BLOCK]
            pair = [(_edge, ours), (_result, stock)]
            for call, into in pair if n % 2 == 0 else pair[::-1]:
                _timed(call, block, into)
        figures = {
            "firings": count,
            "edge": _figures(ours),
            "celery_result_store": _figures(stock),
            "ratio_median": round(statistics.median(ours) / statistics.median(stock), 2),
            "loadavg": [round(value, 2) for value in os.getloadavg()],
        }
    print(f"edge (start + end of a firing) vs Celery's result store per task: {figures}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

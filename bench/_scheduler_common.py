"""What the parts of bench/scheduler.py share: the stock APScheduler, turn-taking, formats."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from datetime import UTC
from typing import Any

BLOCKS = 10  # jobs are added in this many blocks, the paths taking turns block by block
STOCK_APS_TABLE = "bench_stock_apscheduler_jobs"
STOCK_APS_PAUSED_TABLE = "bench_stock_apscheduler_paused_jobs"


def stock_aps(table: str) -> Any:
    """A stock APScheduler 3 BackgroundScheduler with a SQLAlchemyJobStore on our database."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    from tasks.scheduling.apscheduler_store import sqlalchemy_url

    store = SQLAlchemyJobStore(url=sqlalchemy_url(), tablename=table)
    return BackgroundScheduler(jobstores={"default": store}, timezone=UTC)


def blocks(items: list[Any], count: int) -> Iterator[list[Any]]:
    size = -(-len(items) // count)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def rotated(names: list[str], number: int) -> list[str]:
    """The order changes every round, so the machine's load weighs on each side alike."""
    shift = number % len(names)
    return names[shift:] + names[:shift]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}ms" if seconds < 1 else f"{seconds:.2f}s"


def load(values: Sequence[float] | None = None) -> str:
    return " ".join(f"{x:.2f}" for x in (values or os.getloadavg()))

"""Sending a sweep's work to the backtest workers by task name, after the commit that planned it."""

from __future__ import annotations

from collections.abc import Iterable

from celery import current_app
from django.db import transaction

# The backtest engineer's queue and worker line (Procfile `backtests`): sweeps share them.
QUEUE = "backtests"
RUN_CHUNK = "sweeps.run_chunk"
OPTIMISE = "sweeps.optimise"


def chunks_send(*, sweep_id: int, chunks: Iterable[int]) -> None:
    """One `sweeps.run_chunk` message per chunk, once the planning transaction commits."""
    wanted = sorted(set(chunks))

    def send() -> None:
        for chunk in wanted:
            current_app.send_task(RUN_CHUNK, args=(sweep_id, chunk), queue=QUEUE)

    transaction.on_commit(send)


def optimise_send(*, sweep_id: int) -> None:
    """One step of the optimiser's ask/tell loop, after the commit."""
    transaction.on_commit(lambda: current_app.send_task(OPTIMISE, args=(sweep_id,), queue=QUEUE))

"""Sending a sweep's work to the backtest workers by task name, after the commit that planned it,
and what of it waits in the broker.

Each message's task id is derived from its work (`sweep-7-chunk-3`, `sweep-7-optimise`): a chunk
sent again is the same task in Flower, and `sweeps_resume` finds a queued chunk by its id.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from celery import current_app
from django.db import transaction

# The backtest engineer's queue and worker line (Procfile `backtests`): sweeps share them.
QUEUE = "backtests"
RUN_CHUNK = "sweeps.run_chunk"
OPTIMISE = "sweeps.optimise"


def chunk_task_id(sweep_id: int, chunk: int) -> str:
    return f"sweep-{sweep_id}-chunk-{chunk}"


def optimise_task_id(sweep_id: int) -> str:
    """One id for every step of a sweep's optimiser: steps are serialised and idempotent, so a
    queued one stands for any other."""
    return f"sweep-{sweep_id}-optimise"


def chunks_send(*, sweep_id: int, chunks: Iterable[int]) -> None:
    """One `sweeps.run_chunk` message per chunk, once the planning transaction commits."""
    wanted = sorted(set(chunks))

    def send() -> None:
        for chunk in wanted:
            current_app.send_task(
                RUN_CHUNK,
                args=(sweep_id, chunk),
                queue=QUEUE,
                task_id=chunk_task_id(sweep_id, chunk),
            )

    transaction.on_commit(send)


def optimise_send(*, sweep_id: int) -> None:
    """One step of the optimiser's ask/tell loop, after the commit."""
    transaction.on_commit(
        lambda: current_app.send_task(
            OPTIMISE, args=(sweep_id,), queue=QUEUE, task_id=optimise_task_id(sweep_id)
        )
    )


def queued_task_ids() -> set[str]:
    """The task ids of the messages waiting in the sweeps' queue: one read of its Redis list
    (where kombu keeps a queue's ready messages; ours are sent without a priority, so all in
    the list named after the queue). Messages a worker has taken are not in it."""
    with current_app.connection_for_read() as connection:
        raw = connection.default_channel.client.lrange(QUEUE, 0, -1)
    return {json.loads(message)["headers"]["id"] for message in raw}

"""Sweep tasks on the `backtests` queue: a chunk of parameter sets, and the optimiser's step."""

from __future__ import annotations

from celery import shared_task

from strategies.sweeps.running import chunk_run
from strategies.sweeps.services import sweeps_resume


@shared_task(
    name="sweeps.run_chunk",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=1500,  # a chunk of long backtests; the visibility timeout outlasts it
    time_limit=1600,
)
def run_chunk(sweep_id: int, chunk: int) -> int:
    """Idempotent per set (a row unique per sweep, window and set): a redelivery after a lost
    worker runs only the sets that have no result yet."""
    return chunk_run(sweep_id=sweep_id, chunk=chunk)


@shared_task(name="sweeps.optimise", acks_late=True, reject_on_worker_lost=True)
def optimise(sweep_id: int) -> str:
    """One ask/tell step of a TPE sweep; serialised on the sweep's row, safe to repeat."""
    from strategies.sweeps.optimise import optimise_step  # Optuna loads where a TPE sweep runs

    return optimise_step(sweep_id=sweep_id)


@shared_task(name="sweeps.resume")
def resume() -> list[int]:
    """Re-send the work running sweeps lost; the `sweeps.resume` system job (every few
    minutes), also `manage.py sweeps_resume` and the admin's action."""
    return sweeps_resume()

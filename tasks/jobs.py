"""The system job table (what `setup_periodic_tasks` installs); moving jobs between backends."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.utils.module_loading import import_string

from project.env import SCHEDULER_BACKENDS
from project.kernel.scheduling import (
    CrontabTrigger,
    IntervalTrigger,
    Scheduler,
    Trigger,
    get_scheduler,
)

# How often running sweeps are looked at for lost chunks: a sweep stalled by a lost message
# goes on within this; a look that finds nothing lost sends nothing.
SWEEPS_RESUME_SECONDS = 5 * 60


@dataclass(frozen=True)
class SystemJob:
    """One system job; its id is its task's name. The task may be registered later."""

    task: str
    trigger: Trigger
    description: str = ""

    @property
    def id(self) -> str:
        return self.task


def system_jobs() -> list[SystemJob]:
    """The defaults; daily times are in settings.TIME_ZONE."""
    zone = settings.TIME_ZONE
    return [
        SystemJob(
            "collect_crypto_data",
            IntervalTrigger(10 * 60),
            "System: candles and tickers of the watchlist, from every enabled exchange",
        ),
        # Right after each minute's close: the series of active strategies whose candle closed.
        SystemJob(
            "collect_due_candles",
            CrontabTrigger.parse("* * * * *", zone),
            "System: the candle each active strategy trades on, right after it closes",
        ),
        SystemJob(
            "update_exchange_symbols",
            CrontabTrigger.parse("0 1 * * *", zone),
            "System: each exchange's market listing (delisting guarded)",
        ),
        SystemJob(
            "cleanup_old_data",
            CrontabTrigger.parse("0 3 * * *", zone),
            "System: retention of candles, tickers, runs, firings and task results",
        ),
        SystemJob(
            "health_check", IntervalTrigger(60 * 60), "System: the health checks, into the log"
        ),
        SystemJob(
            "sync_user_balances",
            IntervalTrigger(15 * 60),
            "System: the balances of every exchange account",
        ),
        SystemJob(
            "recover_runs",
            IntervalTrigger(30),
            "System: settle runs no live process holds and reconcile unconfirmed live orders",
        ),
        SystemJob(
            "sweeps.resume",
            IntervalTrigger(SWEEPS_RESUME_SECONDS),
            "System: re-send the work running sweeps lost (a chunk neither queued nor running)",
        ),
    ]


@dataclass
class Installed:
    created: list[str]
    kept: list[str]
    reset: list[str]


def system_jobs_install(*, reset: bool = False, scheduler: Scheduler | None = None) -> Installed:
    """Create the missing system jobs; keep existing ones as they are (admin edits survive).

    With `reset`, existing ones get their default task, trigger and no arguments back, and
    are resumed if paused.
    """
    scheduler = scheduler or get_scheduler()
    result = Installed(created=[], kept=[], reset=[])
    for job in system_jobs():
        current = scheduler.get_job(job.id)
        if current is None:
            scheduler.add_job(job.id, job.task, job.trigger, description=job.description)
            result.created.append(job.id)
        elif reset:
            scheduler.update_job(
                job.id,
                task=job.task,
                trigger=job.trigger,
                args=[],
                kwargs={},
                description=job.description,
            )
            if not current.enabled:
                scheduler.resume_job(job.id)
            result.reset.append(job.id)
        else:
            if not current.description:  # installed before jobs had one; an edited one stays
                scheduler.update_job(job.id, description=job.description)
            result.kept.append(job.id)
    return result


@dataclass
class Moved:
    """What `jobs_leave_other_backends` did, job id by job id, per backend name."""

    removed: dict[str, list[str]] = field(default_factory=dict)
    paused: dict[str, list[str]] = field(default_factory=dict)


def jobs_leave_other_backends(*, is_recreated: Callable[[str], bool]) -> Moved:
    """Silence every backend but the configured one, so one backend fires at a time.

    Jobs the configured backend re-creates (`is_recreated`: strategy and system jobs) are
    removed from the others; any other job (made by hand in an admin) is paused there, kept
    for whoever moves it.
    """
    moved = Moved()
    for name, path in SCHEDULER_BACKENDS.items():
        if path == settings.SCHEDULER_BACKEND:
            continue
        other: Scheduler = import_string(path)()
        try:
            for job in other.get_jobs():
                if is_recreated(job.id):
                    other.remove_job(job.id)
                    moved.removed.setdefault(name, []).append(job.id)
                elif job.enabled:
                    other.pause_job(job.id)
                    moved.paused.setdefault(name, []).append(job.id)
        finally:
            other.shutdown()
    return moved

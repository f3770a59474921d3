"""The APScheduler leader hands each scheduled run over as its firing (job, tick); the stored job
stays as it was, and a run-now keeps its own task id."""

from __future__ import annotations

from datetime import UTC, datetime

from apscheduler.job import Job
from apscheduler.schedulers.background import BackgroundScheduler

from project.kernel.scheduling import IntervalTrigger
from tasks.scheduling.apscheduler_backend import run_task
from tasks.scheduling.apscheduler_jobs import RUN_NOW_PREFIX
from tasks.scheduling.apscheduler_runs import job_for_tick
from tasks.scheduling.apscheduler_trigger import TickTrigger
from tests.scheduling.tasks import TICK_TASK

TICK = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def stored_job(job_id: str, args: list[object]) -> Job:
    """A job as the leader's loop reads it from the store."""
    job = Job(
        BackgroundScheduler(),
        id=job_id,
        func=run_task,
        trigger=TickTrigger(IntervalTrigger(60)),
        executor="default",
        args=args,
        kwargs={},
        name="Strategy 7",
        misfire_grace_time=300,
        coalesce=True,
        max_instances=1,
        next_run_time=TICK,
    )
    job._jobstore_alias = "default"
    return job


def test_a_scheduled_run_names_its_job_and_tick_and_leaves_the_stored_job_as_it_was() -> None:
    job = stored_job("strategy_7", [TICK_TASK, ["label", "strategy_7"], {}])

    fired = job_for_tick(job, TICK)

    assert fired is not job
    assert fired.kwargs == {"job_id": "strategy_7", "tick": TICK}
    assert (fired.id, fired.args, fired.func) == (job.id, job.args, run_task)
    assert (fired._jobstore_alias, fired._scheduler) == ("default", job._scheduler)
    assert job.kwargs == {}  # the scheduler writes this one back to the store


def test_a_run_now_is_handed_over_as_it_is() -> None:
    job = stored_job(f"{RUN_NOW_PREFIX}strategy_7:x", [TICK_TASK, [], {}, "strategy_7@now-x"])

    assert job_for_tick(job, TICK) is job

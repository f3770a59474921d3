"""Each run the APScheduler leader hands its pool knows its firing: the job and the tick it
fires for, so its Celery task id is `job@tick` and its task gets `scheduled_tick`, as a firing
of our beat does (`messages.firing_task_id`, `messages.firing_kwargs`: one rule, both backends).

APScheduler calls a job's function with the job's stored arguments only; the tick it fires for
is known to the executor alone. So the executor hands the pool a copy of the job whose keyword
arguments name the firing; the stored job, which the scheduler writes back right after, is
left as it was.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.job import Job

from tasks.scheduling.apscheduler_jobs import RUN_NOW_PREFIX


def job_for_tick(job: Job, tick: datetime) -> Job:
    """A copy of `job` whose run is the firing of (job, `tick`): `run_task` is called with
    `job_id` and `tick`. A run-now is returned as it is: it carries its own task id
    (`job@now-<uuid>`)."""
    if job.id.startswith(RUN_NOW_PREFIX):
        return job
    fired: Any = copy.copy(job)  # through Job's own __getstate__/__setstate__
    fired._scheduler, fired._jobstore_alias = job._scheduler, job._jobstore_alias
    fired.kwargs = {**job.kwargs, "job_id": job.id, "tick": tick}
    return fired


class FiringPoolExecutor(ThreadPoolExecutor):
    """APScheduler's thread pool, each job submitted as the firing of its latest run time.

    The jobs coalesce (`JOB_DEFAULTS`): a late job runs once, for its latest tick, which is
    also the tick its `Firing` row records (`APSchedulerProcess._on_fired`).
    """

    def submit_job(self, job: Job, run_times: list[datetime]) -> None:
        super().submit_job(job_for_tick(job, max(run_times)), run_times)

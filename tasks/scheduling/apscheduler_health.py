"""The APScheduler backend's health and gauges: the leader election's state, its heartbeat, and
overdue jobs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from project.kernel.scheduling import SchedulerError, SchedulerGauges
from tasks.scheduling.apscheduler_jobs import RUN_NOW_PREFIX
from tasks.scheduling.apscheduler_process import APSchedulerProcess
from tasks.scheduling.leader import lease_holder, lease_holder_pid

# A job this much behind its tick means no leader fires (or it does not keep up).
OVERDUE_AFTER = timedelta(minutes=2)


class APSchedulerHealth(APSchedulerProcess):
    """Answers from the lease and the store's indexed next run times, never a job list."""

    def health(self) -> str:
        """A leader holds the lease (its session is its heartbeat), every job loads, and none
        is overdue."""
        if self._lease is not None and self._lease.last_error:
            raise SchedulerError(f"this process cannot join the election: {self._lease.last_error}")
        if self.start_error:
            raise SchedulerError(f"APScheduler did not start here: {self.start_error}")
        holder = lease_holder_pid()
        if holder is None:
            raise SchedulerError(
                "no process leads APScheduler, so no job fires: start the web processes or "
                "`manage.py run_scheduler`"
            )
        broken = self._store_or_fail().load_errors()
        if broken:
            listed = "; ".join(f"{job_id}: {why}" for job_id, why in sorted(broken.items()))
            raise SchedulerError(f"{len(broken)} jobs cannot be loaded (kept): {listed}")
        where = "this process" if self.is_leader else f"database session {holder}"
        overdue, example = self._store_or_fail().overdue(
            before=datetime.now(UTC) - OVERDUE_AFTER, hidden=RUN_NOW_PREFIX
        )
        if overdue:
            raise SchedulerError(
                f"APScheduler is not firing jobs: {overdue} overdue by more than "
                f"{OVERDUE_AFTER}, e.g. {example} (leader is {where})"
            )
        return f"APScheduler: none overdue, leader is {where}"

    def processes(self) -> list[dict[str, Any]]:
        """The leader, as /health/detail/ lists it: its database session, and whether it is
        this process."""
        holder = lease_holder_pid()
        if holder is None:
            return []
        return [{"leader_session_pid": holder, "this_process": self.is_leader}]

    def gauges(self) -> SchedulerGauges:
        """The leader (present or not) and its heartbeat, from the lease; the jobs from one
        aggregate over the store."""
        holder = lease_holder()
        jobs = self._store_or_fail().job_figures(hidden=RUN_NOW_PREFIX)
        return SchedulerGauges(
            firing_processes=1 if holder else 0,
            heartbeat_at=holder.heartbeat_at if holder else None,
            jobs_enabled=jobs.enabled,
            jobs_paused=jobs.paused,
            next_run_at=jobs.next_run_at,
            last_run_at=jobs.last_run_at,
        )

    def due_jobs_count(self) -> int:
        now = datetime.now(UTC)
        return self._store_or_fail().overdue(before=now, hidden=RUN_NOW_PREFIX)[0]

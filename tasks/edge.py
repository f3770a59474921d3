"""The task edge every task of the app passes (`Celery(task_cls=...)`): a beat firing's start
stamped, copies and missed firings refused, and a database outage retried, not acknowledged.

Without it a task whose database was unreachable failed, its message was acknowledged (acks_late
acknowledges a failure) and the tick was gone: Celery redelivers only after a lost worker.
Here such an error is retried with backoff, with the same task id; every task is idempotent
per its key (a run per (strategy, tick), a firing started once), so the retry is safe.
"""

from __future__ import annotations

import logging
import random
from typing import Any

from celery import Task
from celery.exceptions import Ignore, Retry
from django.db import InterfaceError, OperationalError, connection

from tasks.scheduling.messages import is_firing_task_id
from tasks.scheduling.starts import Start, firing_finish, firing_release, firing_start

logger = logging.getLogger(__name__)

# What an unreachable or restarting database raises through Django.
DATABASE_ERRORS = (OperationalError, InterfaceError)
# Backoff after a database error: 1, 2, 4 ... seconds, at most this, jittered.
DATABASE_RETRY_MAX_COUNTDOWN = 30
# Retries of one message in all (database errors and waits for an earlier tick); with the
# backoff, a database away for about an hour.
MAX_RETRIES = 150
# A later tick looks again this often for the earlier one to start.
WAIT_COUNTDOWN = 1.0
# ... and gives up waiting (runs anyway) after this many looks.
MAX_WAITS = 120


class EdgeTask(Task):
    """The base class of every task (`project.celery`)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        request = self.request
        if request.called_directly or request.is_eager:
            return super().__call__(*args, **kwargs)  # in-process: no message to retry
        firing: int | None = None
        try:
            if request.id and is_firing_task_id(request.id):
                firing = self._firing_start(request.id)
            result = self.run(*args, **kwargs)
        except Ignore:
            raise
        except Retry:
            if firing is not None:
                firing_release(firing_id=firing)  # the retry resumes it
            raise
        except DATABASE_ERRORS as error:
            raise self._database_retry(error) from error
        except Exception:
            self._firing_finish(firing)
            raise
        self._firing_finish(firing)
        return result

    def _database_retry(self, error: Exception) -> Retry:
        """The retry of a task whose database was unreachable: backoff with jitter, same id.
        The connection is closed, which frees the firing's lease for the retry."""
        connection.close()
        retries = self.request.retries
        countdown = min(2**retries, DATABASE_RETRY_MAX_COUNTDOWN)
        countdown *= random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not a secret
        logger.warning(
            "task %s[%s]: database unreachable (%s); retry %d in %.1fs",
            self.name,
            self.request.id,
            type(error).__name__,
            retries + 1,
            countdown,
        )
        return self.retry(exc=error, countdown=countdown, max_retries=MAX_RETRIES)

    def _firing_start(self, task_id: str) -> int | None:
        """Start the firing (its id, None if the message is no firing's); raise Ignore for a
        copy or a missed firing, Retry to wait for the job's earlier tick."""
        started = firing_start(task_id=task_id, in_order=self.request.retries < MAX_WAITS)
        if started.start is Start.WAIT:
            raise self.retry(countdown=WAIT_COUNTDOWN, max_retries=MAX_RETRIES)
        if not started.runs:
            log = logger.warning if started.start is Start.MISSED else logger.info
            log("task %s: %s %s; not run", task_id, started.start.value, started.reason)
            raise Ignore()
        if started.start is Start.RESUMED and not self.request.retries:  # not its own retry
            logger.warning("task %s: %s", task_id, started.start.value)
        return started.firing_id if started.start is not Start.NOT_A_FIRING else None

    def _firing_finish(self, firing: int | None) -> None:
        """The job's next tick may start. A stamp the database refuses is only logged: the run
        is done, and the next tick waits at most the grace for it."""
        if firing is None:
            return
        try:
            firing_finish(firing_id=firing)
        except DATABASE_ERRORS:
            logger.warning("firing %s: its end not stamped (database unreachable)", firing)

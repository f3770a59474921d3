"""Job store changes waiting for the caller's transaction to commit, visible to it meanwhile."""

from __future__ import annotations

import dataclasses
import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any

from django.db import connection, transaction

from project.kernel.scheduling import (
    JobRecord,
)

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class PendingChange:
    """A job store change waiting for the transaction to commit (an on_commit callback)."""

    job_id: str
    what: str
    record: JobRecord | None  # the job after the change; None once removed
    change: Callable[[], object]

    done: bool = False

    def __call__(self) -> None:
        self.done = True
        try:
            self.change()
        except Exception:
            # The caller's data is committed; `sync_schedules` (and every leader start)
            # repairs the job from it.
            logger.exception("scheduler: %s after commit failed", self.what)


# This thread's job changes waiting for their transaction, oldest first. Held weakly: the
# transaction holds each one (transaction.on_commit) until it runs it, or drops it when the
# transaction, or the savepoint it was made in, rolls back; then it is gone from here too.
_waiting = threading.local()


def pending_add(change: PendingChange) -> None:
    """Run `change` when the transaction commits; until then it is one of `pending_changes`."""
    transaction.on_commit(change)
    _waiting.changes = [*_live(), weakref.ref(change)]


def _live() -> list[weakref.ref[PendingChange]]:
    return [ref for ref in getattr(_waiting, "changes", []) if ref() is not None]


def pending_changes() -> list[PendingChange]:
    """This transaction's job changes not made yet (rolled-back savepoints drop theirs)."""
    if not connection.in_atomic_block:
        return []
    return [change for ref in _live() if (change := ref()) is not None and not change.done]


def pending_for(job_id: str) -> tuple[bool, JobRecord | None]:
    """Whether this transaction changes the job, and the job after those changes."""
    for change in reversed(pending_changes()):
        if change.job_id == job_id:
            return True, change.record
    return False, None


def record_replace(record: JobRecord, **changes: Any) -> JobRecord:
    if changes.get("enabled") is False:
        changes["next_run_at"] = None
    return dataclasses.replace(record, **changes)

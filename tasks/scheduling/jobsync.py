"""What both backends' `jobs_sync` share: which part of the desired set to read, and the mark
of the last sync that bounds it."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connection

from project.kernel.scheduling import DesiredJobs
from tasks.models import JobsSyncMark

# A strategy saved this long before the last sync's snapshot but committed after it is still
# read again: no write transaction of ours stays open that long.
MARGIN = timedelta(minutes=10)


def sync_scope(*, backend: str, desired: DesiredJobs, full: bool) -> tuple[DesiredJobs, bool]:
    """The part of `desired` to sync now, and whether it is all of it.

    All of it when asked, when the desired set cannot narrow itself, or when this backend has
    no mark for the prefix (its first sync, or it was switched to); else what changed since
    the mark, less the margin.
    """
    if full or desired.changed_since is None:
        return desired, True
    mark = JobsSyncMark.objects.filter(backend=backend, prefix=desired.prefix).first()
    if mark is None:
        return desired, True
    return desired.changed_since(mark.synced_at - MARGIN), False


def snapshot_time() -> datetime:
    """The transaction's start, as the database sees it: what the next sync counts from."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        return cursor.fetchone()[0]


def sync_mark(*, backend: str, prefix: str, at: datetime) -> None:
    """Record a sync of the prefix as of `at`."""
    JobsSyncMark.objects.update_or_create(
        backend=backend, prefix=prefix, defaults={"synced_at": at}
    )


def sync_forget(*, backend: str) -> None:
    """Forget every mark of a backend: its next sync is a full one (its jobs were moved)."""
    JobsSyncMark.objects.filter(backend=backend).delete()

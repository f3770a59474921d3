"""Reads of the beat's tables for health, metrics and the admin: each one indexed query."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from tasks.models import BeatInstance, Firing, FiringStatus, JobSchedule


def due_jobs_count(*, now: datetime | None = None) -> int:
    """Jobs whose next tick has come and that no beat has fired yet: the due backlog."""
    return JobSchedule.objects.filter(next_fire_at__lte=now or timezone.now()).count()


def _overdue(late_by: timedelta, now: datetime | None) -> Q:
    before = (now or timezone.now()) - late_by
    # A job no beat has planned (none ran since it changed) is as overdue as an unfired one.
    return Q(next_fire_at__lt=before) | Q(stale=True, changed_at__lt=before)


def overdue_jobs(*, late_by: timedelta, now: datetime | None = None) -> tuple[int, str]:
    """How many jobs are due (or unplanned) for longer than `late_by`, and the oldest one."""
    overdue = JobSchedule.objects.filter(_overdue(late_by, now))
    count = overdue.count()
    if not count:
        return 0, ""
    oldest = overdue.select_related("periodic_task").order_by("next_fire_at").first()
    if oldest is None:
        return count, ""
    due = oldest.next_fire_at or oldest.changed_at
    return count, f"{oldest.periodic_task.name!r} due at {due.isoformat()}"


def live_beats(*, now: datetime | None = None) -> list[BeatInstance]:
    """Beats that stamped a tick within BEAT_LIVE_SECONDS, newest first."""
    since = (now or timezone.now()) - timedelta(seconds=settings.BEAT_LIVE_SECONDS)
    return list(BeatInstance.objects.filter(last_tick_at__gte=since).order_by("-started_at"))


def pending_firings_count() -> int:
    """Firings committed but not yet published: the outbox backlog."""
    return Firing.objects.filter(status=FiringStatus.PENDING).count()

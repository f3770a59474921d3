"""Reads of the job tables for people, health and metrics: lateness, totals, the beat's backlog."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import (
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from strategies.job import job_id, strategy_id_expression
from strategies.models import Strategy, StrategyRun
from tasks.models import BeatInstance, Firing, FiringStatus, JobSchedule

# Upper bounds (seconds) of the lateness histogram's buckets; +Inf is implied.
LATENESS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


def firings_with_timing(firings: QuerySet[Firing] | None = None) -> QuerySet[Firing]:
    """Firings with `lateness` (published after the tick) and their run's start, if any.

    The run is the strategy run of the same strategy and tick (one at most: runs are unique
    per strategy and tick); system jobs have none.
    """
    runs = StrategyRun.objects.filter(
        strategy_id=OuterRef("strategy_id"), scheduled_tick=OuterRef("scheduled_tick")
    )
    return (
        (firings if firings is not None else Firing.objects.all())
        .annotate(
            strategy_id=strategy_id_expression("job_name"),
            lateness=ExpressionWrapper(
                F("published_at") - F("scheduled_tick"), output_field=DurationField()
            ),
            run_started_at=Subquery(runs.values("started_at")[:1]),
            run_status=Subquery(runs.values("status")[:1]),
        )
        .annotate(
            start_lateness=ExpressionWrapper(
                F("run_started_at") - F("scheduled_tick"), output_field=DurationField()
            )
        )
    )


def _latest_firing(job_name: Any) -> dict[str, Subquery]:
    """Annotations with the timing of the latest firing of the job named `job_name`.

    `last_lateness` is how late it was published; `last_start_lateness` how late its run
    started (strategy jobs). One indexed lookup (firings are unique per job and tick).
    """
    latest = firings_with_timing(
        Firing.objects.filter(job_name=job_name).order_by("-scheduled_tick")
    )
    fields = {
        "last_fired_tick": "scheduled_tick",
        "last_published_at": "published_at",
        "last_lateness": "lateness",
        "last_run_started_at": "run_started_at",
        "last_start_lateness": "start_lateness",
    }
    return {name: Subquery(latest.values(column)[:1]) for name, column in fields.items()}


def jobs_with_lateness(jobs: QuerySet[PeriodicTask] | None = None) -> QuerySet[PeriodicTask]:
    """Jobs with their schedule row and the timing of their latest firing."""
    return (
        (jobs if jobs is not None else PeriodicTask.objects.all())
        .select_related("beat_schedule", "interval", "crontab")
        .annotate(**_latest_firing(OuterRef("name")))
    )


def schedules_with_lateness(
    schedules: QuerySet[JobSchedule] | None = None,
) -> QuerySet[JobSchedule]:
    """Companion rows with their job and the timing of its latest firing."""
    return (
        (schedules if schedules is not None else JobSchedule.objects.all())
        .select_related("periodic_task")
        .annotate(**_latest_firing(OuterRef("periodic_task__name")))
    )


def refused_duplicates_total() -> int:
    """Firings refused as duplicates by every beat that ever ran (their rows are kept)."""
    return BeatInstance.objects.aggregate(total=Sum("refused_duplicates"))["total"] or 0


def jobs_of_owner(*, owner_id: int) -> QuerySet[PeriodicTask]:
    """The jobs of one user's strategies."""
    ids = Strategy.objects.filter(owner_id=owner_id).values_list("pk", flat=True)
    return PeriodicTask.objects.filter(name__in=[job_id(pk) for pk in ids])


@dataclass
class FiringTotals:
    """Counts over a range of final firings: what the /metrics counters add up."""

    fired: dict[tuple[str, str], int] = field(default_factory=dict)  # (status, trigger) -> n
    missed_ticks: int = 0
    lateness_buckets: list[int] = field(default_factory=lambda: [0] * len(LATENESS_BUCKETS))
    lateness_count: int = 0
    lateness_sum: float = 0.0

    def add(self, other: FiringTotals) -> FiringTotals:
        fired = dict(self.fired)
        for key, count in other.fired.items():
            fired[key] = fired.get(key, 0) + count
        return FiringTotals(
            fired=fired,
            missed_ticks=self.missed_ticks + other.missed_ticks,
            lateness_buckets=[
                a + b for a, b in zip(self.lateness_buckets, other.lateness_buckets, strict=True)
            ],
            lateness_count=self.lateness_count + other.lateness_count,
            lateness_sum=self.lateness_sum + other.lateness_sum,
        )


FINAL = (FiringStatus.PUBLISHED, FiringStatus.SKIPPED)


def firing_totals(*, after_id: int, up_to_id: int | None = None) -> FiringTotals:
    """Totals of the final (published or skipped) firings with `after_id < id <= up_to_id`.

    Two queries on the primary key's range, whatever the size of the firing history.
    """
    rows = Firing.objects.filter(id__gt=after_id, status__in=FINAL)
    if up_to_id is not None:
        rows = rows.filter(id__lte=up_to_id)
    totals = FiringTotals()
    for status, trigger, count, missed in (
        rows.values_list("status", "trigger")
        .annotate(count=Count("id"), missed=Sum("missed_ticks"))
        .order_by()
    ):
        totals.fired[(status, trigger)] = count
        totals.missed_ticks += missed or 0
    late = Func(
        F("published_at") - F("scheduled_tick"),
        template="EXTRACT(EPOCH FROM %(expressions)s)",
        output_field=FloatField(),  # Extract() would round to whole seconds
    )
    published = rows.filter(status=FiringStatus.PUBLISHED, published_at__isnull=False)
    figures = published.annotate(late=late).aggregate(
        count=Count("id"),
        total=Sum("late"),
        **{f"le{n}": Count("id", filter=Q(late__lte=b)) for n, b in enumerate(LATENESS_BUCKETS)},
    )
    totals.lateness_count = figures["count"]
    totals.lateness_sum = float(figures["total"] or 0)
    totals.lateness_buckets = [figures[f"le{n}"] for n in range(len(LATENESS_BUCKETS))]
    return totals


def firings_settled_up_to(*, after_id: int, settled_before: datetime) -> int:
    """The highest id up to which every firing after `after_id` is final and older than
    `settled_before`: totals up to it never change again, so they can be kept."""
    unsettled = Firing.objects.filter(id__gt=after_id).filter(
        Q(status=FiringStatus.PENDING) | Q(created_at__gte=settled_before)
    )
    first_open = unsettled.aggregate(first=Min("id"))["first"]
    if first_open is not None:
        return first_open - 1
    return Firing.objects.filter(id__gt=after_id).aggregate(last=Max("id"))["last"] or after_id


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

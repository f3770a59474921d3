"""Admin for the schedulers: each firing with its timing, each job's schedule and lateness (beat's
and APScheduler's), the beats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django_celery_beat.admin import PeriodicTaskAdmin
from django_celery_beat.models import PeriodicTask

from project.kernel.display import WideChangeListMixin
from strategies.admin import ReadOnlyAdminMixin
from tasks.models import APSchedulerJob, BeatInstance, Firing, JobSchedule
from tasks.scheduling.apscheduler_selectors import apscheduler_job_state, apscheduler_jobs
from tasks.selectors import firings_with_timing, schedules_with_lateness


def _seconds(late: timedelta | None) -> str:
    return "-" if late is None else f"{late.total_seconds():.3f} s"


def _moment(moment: datetime | None) -> str:
    return "-" if moment is None else moment.isoformat(timespec="milliseconds")


@admin.register(Firing)
class FiringAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every firing is history and the proof a tick fired once: read-only, never deleted here
    (a deleted firing would let its tick fire again)."""

    list_display = (
        "celery_task_id",
        "status",
        "trigger",
        "missed_ticks",
        "scheduled_tick",
        "published_at",
        "publish_lateness",
        "run_started",
        "start_lateness",
        "run_status",
        "beat_id",
        "reason",
    )
    list_filter = ("status", "trigger")
    search_fields = ("job_name", "celery_task_id")
    date_hierarchy = "scheduled_tick"
    ordering = ("-scheduled_tick", "job_name")
    show_full_result_count = False  # the history is long: no COUNT(*) of all of it per page

    def get_queryset(self, request: HttpRequest) -> QuerySet[Firing]:
        return firings_with_timing(super().get_queryset(request))

    @admin.display(description="published after the tick", ordering="lateness")
    def publish_lateness(self, firing: Any) -> str:
        return _seconds(firing.lateness)

    @admin.display(description="run started", ordering="run_started_at")
    def run_started(self, firing: Any) -> str:
        return _moment(firing.run_started_at)

    @admin.display(description="run started after the tick", ordering="start_lateness")
    def start_lateness(self, firing: Any) -> str:
        return _seconds(firing.start_lateness)

    @admin.display(description="run status")
    def run_status(self, firing: Any) -> str:
        return firing.run_status or "-"


@admin.register(JobSchedule)
class JobScheduleAdmin(admin.ModelAdmin):
    """Each job's next fire time and how late its latest firing was. The database triggers
    keep these rows (they cannot be added or deleted here); only the misfire policy is set."""

    list_display = (
        "job",
        "next_fire_at",
        "stale",
        "last_tick",
        "misfire_policy",
        "misfire_grace_seconds",
        "missed_ticks",
        "last_lateness",
        "last_start_lateness",
    )
    list_filter = ("misfire_policy", "stale")
    search_fields = ("periodic_task__name",)
    ordering = ("periodic_task__name",)
    fields = (
        "periodic_task",
        "misfire_policy",
        "misfire_grace_seconds",
        "next_fire_at",
        "stale",
        "changed_at",
        "last_tick",
        "missed_ticks",
    )
    readonly_fields = (
        "periodic_task",
        "next_fire_at",
        "stale",
        "changed_at",
        "last_tick",
        "missed_ticks",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[JobSchedule]:
        return schedules_with_lateness(super().get_queryset(request))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="job", ordering="periodic_task__name")
    def job(self, schedule: JobSchedule) -> str:
        return schedule.periodic_task.name

    @admin.display(description="latest firing published after its tick", ordering="last_lateness")
    def last_lateness(self, schedule: Any) -> str:
        return _seconds(schedule.last_lateness)

    @admin.display(description="latest run started after its tick", ordering="last_start_lateness")
    def last_start_lateness(self, schedule: Any) -> str:
        return _seconds(schedule.last_start_lateness)


@admin.register(BeatInstance)
class BeatInstanceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The beats that ran: written by the beats themselves."""

    list_display = (
        "id",
        "host",
        "pid",
        "started_at",
        "last_tick_at",
        "firing",
        "refused_duplicates",
    )
    ordering = ("-last_tick_at",)


@admin.register(APSchedulerJob)
class APSchedulerJobAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The APScheduler backend's jobs: what each does, its next and last run, how late its
    latest firing was and the ticks it missed. Changed through strategies, never here."""

    list_display = (
        "id",
        "description",
        "schedule",
        "enabled",
        "next_run",
        "last_run",
        "last_lateness",
        "last_start_lateness",
        "missed_ticks",
    )
    search_fields = ("id",)
    ordering = ("id",)
    exclude = ("job_state",)
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[APSchedulerJob]:
        return apscheduler_jobs(super().get_queryset(request))

    @admin.display(description="description")
    def description(self, job: APSchedulerJob) -> str:
        return apscheduler_job_state(job)["description"]

    @admin.display(description="schedule")
    def schedule(self, job: APSchedulerJob) -> str:
        return apscheduler_job_state(job)["schedule"]

    @admin.display(description="enabled", boolean=True)
    def enabled(self, job: APSchedulerJob) -> bool:
        return job.next_run_time is not None

    @admin.display(description="next run", ordering="next_run_time")
    def next_run(self, job: APSchedulerJob) -> str:
        return _moment(_utc(job.next_run_time))

    @admin.display(description="last run", ordering="last_run_time")
    def last_run(self, job: APSchedulerJob) -> str:
        return _moment(_utc(job.last_run_time))

    @admin.display(description="latest firing published after its tick", ordering="last_lateness")
    def last_lateness(self, job: Any) -> str:
        return _seconds(job.last_lateness)

    @admin.display(description="latest run started after its tick", ordering="last_start_lateness")
    def last_start_lateness(self, job: Any) -> str:
        return _seconds(job.last_start_lateness)

    @admin.display(description="missed ticks", ordering="missed_ticks")
    def missed_ticks(self, job: Any) -> int:
        return job.missed_ticks


def _utc(seconds: float | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if seconds is not None else None


admin.site.unregister(PeriodicTask)


@admin.register(PeriodicTask)
class WidePeriodicTaskAdmin(WideChangeListMixin, PeriodicTaskAdmin):
    """django-celery-beat's own admin, its list at full width and without the interval column
    (the scheduler column already says `every 60 seconds`)."""

    list_display = ("name", "enabled", "scheduler", "start_time", "last_run_at", "one_off")

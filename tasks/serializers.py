"""Read-only API shapes of jobs and their firings, with lateness in seconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django_celery_beat.models import PeriodicTask
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from tasks.models import Firing, MisfirePolicy
from tasks.scheduling.apscheduler_selectors import apscheduler_job_state


@extend_schema_field(OpenApiTypes.DOUBLE)
class SecondsField(serializers.Field):
    """A duration as seconds (a float), e.g. how late a firing was; null when unknown."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(read_only=True, allow_null=True, **kwargs)

    def to_representation(self, value: timedelta) -> float:
        return round(value.total_seconds(), 6)


class FiringSerializer(serializers.ModelSerializer):
    """One firing: its tick, when it was published, when its run started, how late each was."""

    lateness_seconds = SecondsField(source="lateness", help_text="Published after the tick.")
    run_started_at = serializers.DateTimeField(read_only=True, allow_null=True)
    start_lateness_seconds = SecondsField(
        source="start_lateness", help_text="The run started after the tick (strategy jobs)."
    )

    class Meta:
        model = Firing
        fields = (
            "celery_task_id",
            "scheduled_tick",
            "status",
            "trigger",
            "missed_ticks",
            "reason",
            "created_at",
            "published_at",
            "lateness_seconds",
            "run_started_at",
            "start_lateness_seconds",
        )
        read_only_fields = fields


class JobSerializer(serializers.ModelSerializer):
    """A scheduled job, its next fire time and the timing of its latest firing."""

    schedule = serializers.SerializerMethodField()
    next_fire_at = serializers.DateTimeField(
        source="beat_schedule.next_fire_at", read_only=True, allow_null=True, default=None
    )
    misfire_policy = serializers.CharField(
        source="beat_schedule.misfire_policy", read_only=True, default=None
    )
    missed_ticks = serializers.IntegerField(
        source="beat_schedule.missed_ticks", read_only=True, default=0
    )
    last_fired_tick = serializers.DateTimeField(read_only=True, allow_null=True)
    last_published_at = serializers.DateTimeField(read_only=True, allow_null=True)
    last_lateness_seconds = SecondsField(
        source="last_lateness", help_text="How late the latest firing was published."
    )
    last_run_started_at = serializers.DateTimeField(read_only=True, allow_null=True)
    last_start_lateness_seconds = SecondsField(
        source="last_start_lateness", help_text="How late the latest firing's run started."
    )

    class Meta:
        model = PeriodicTask
        fields = (
            "id",
            "name",
            "description",
            "task",
            "enabled",
            "schedule",
            "next_fire_at",
            "misfire_policy",
            "missed_ticks",
            "last_fired_tick",
            "last_published_at",
            "last_lateness_seconds",
            "last_run_started_at",
            "last_start_lateness_seconds",
        )
        read_only_fields = fields

    def get_schedule(self, job: PeriodicTask) -> str:
        """django-celery-beat's own description, e.g. 'every 60 seconds'."""
        return str(job.interval or job.crontab or job.solar or job.clocked or "")


def _moment(seconds: float | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if seconds is not None else None


class APSchedulerJobSerializer(serializers.Serializer):
    """A job of the APScheduler backend, in the shape of `JobSerializer` (its id is its name)."""

    id = serializers.CharField(read_only=True)
    name = serializers.CharField(source="id", read_only=True)
    description = serializers.SerializerMethodField()
    task = serializers.SerializerMethodField()
    enabled = serializers.SerializerMethodField()
    schedule = serializers.SerializerMethodField()
    next_fire_at = serializers.SerializerMethodField()
    misfire_policy = serializers.SerializerMethodField()
    missed_ticks = serializers.IntegerField(read_only=True)
    last_fired_tick = serializers.DateTimeField(read_only=True, allow_null=True)
    last_published_at = serializers.DateTimeField(read_only=True, allow_null=True)
    last_lateness_seconds = SecondsField(source="last_lateness")
    last_run_started_at = serializers.DateTimeField(read_only=True, allow_null=True)
    last_start_lateness_seconds = SecondsField(source="last_start_lateness")

    def get_description(self, job: Any) -> str:
        return apscheduler_job_state(job)["description"]

    def get_task(self, job: Any) -> str:
        return apscheduler_job_state(job)["task"]

    def get_enabled(self, job: Any) -> bool:
        return job.next_run_time is not None

    def get_schedule(self, job: Any) -> str:
        return apscheduler_job_state(job)["schedule"]

    def get_next_fire_at(self, job: Any) -> str | None:
        moment = _moment(job.next_run_time)
        return moment.isoformat() if moment else None

    def get_misfire_policy(self, job: Any) -> str:
        """The leader coalesces missed ticks into one run (APScheduler's `coalesce`)."""
        return MisfirePolicy.COALESCE

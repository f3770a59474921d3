"""The beat's own tables: each job's next fire time, one row per firing, and the live beats."""

from __future__ import annotations

from django.db import models
from django_celery_beat.models import PeriodicTask


class MisfirePolicy(models.TextChoices):
    """What a beat does with ticks it finds later than the job's grace period."""

    COALESCE = "coalesce", "Coalesce missed ticks into one catch-up run"
    SKIP = "skip", "Skip missed ticks"


class JobSchedule(models.Model):
    """The companion row of a `PeriodicTask`: when it fires next, indexed, so a tick reads only
    due rows.

    Database triggers (migration 0002) keep it in step with every write to
    `django_celery_beat_periodictask` and the interval/crontab rows it joins: an insert or a
    schedule change marks the row `stale` with `changed_at = now()`; a beat then plans it
    (`next_fire_at`) in Python. A delete removes it. No write path can skip the trigger.
    """

    periodic_task = models.OneToOneField(
        PeriodicTask,
        primary_key=True,
        on_delete=models.CASCADE,
        db_constraint=False,  # the delete trigger removes the row, whoever deletes the task
        related_name="beat_schedule",
    )
    next_fire_at = models.DateTimeField(
        null=True, blank=True, help_text="The next tick to fire; empty when paused or unplanned."
    )
    stale = models.BooleanField(
        default=True, help_text="The schedule changed and the next fire time is to be planned."
    )
    changed_at = models.DateTimeField(help_text="When the schedule last changed.")
    last_tick = models.DateTimeField(
        null=True, blank=True, help_text="The last tick fired (or skipped)."
    )
    misfire_policy = models.CharField(
        max_length=10, choices=MisfirePolicy.choices, default=MisfirePolicy.COALESCE
    )
    misfire_grace_seconds = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="A tick later than this is missed; empty for SCHEDULER_MISFIRE_GRACE_SECONDS.",
    )
    missed_ticks = models.PositiveBigIntegerField(
        default=0, help_text="Ticks missed in total (coalesced or skipped)."
    )

    class Meta:
        indexes = [
            models.Index(
                fields=["next_fire_at"],
                name="jobschedule_due",
                condition=models.Q(next_fire_at__isnull=False),
            ),
            models.Index(
                fields=["changed_at"], name="jobschedule_stale", condition=models.Q(stale=True)
            ),
        ]

    def __str__(self) -> str:
        return f"schedule of job {self.periodic_task_id}"


class FiringStatus(models.TextChoices):
    PENDING = "pending", "Committed, not yet published"
    PUBLISHED = "published", "Published to the broker"
    SKIPPED = "skipped", "Skipped by the misfire policy"


class Firing(models.Model):
    """One firing of one job for one tick, and the outbox of its Celery message.

    Inserted in the transaction that advances the job's `next_fire_at`, unique per (job, tick):
    a second beat or a retry cannot fire a tick twice. `pending` rows are published after the
    commit by the beat that made them, or by the next tick of any beat if that one died. The
    row is the truth and the broker a cache of it: a published firing whose task has not
    started (`task_started_at`) within BEAT_REDELIVER_AFTER_SECONDS, or lost its worker, goes
    back to `pending` and is published again with the same task id, until it ends
    (`task_ended_at`) or, never started, its grace passes.
    """

    job_name = models.CharField(max_length=200, help_text="The PeriodicTask's name.")
    periodic_task_id = models.IntegerField(help_text="The PeriodicTask's id (no constraint).")
    scheduled_tick = models.DateTimeField()
    task = models.CharField(max_length=200)
    args = models.JSONField(default=list)
    kwargs = models.JSONField(default=dict)
    queue = models.CharField(max_length=200, blank=True, default="")
    celery_task_id = models.CharField(max_length=255, unique=True)
    trigger = models.CharField(max_length=10, default="schedule")
    missed_ticks = models.PositiveIntegerField(
        default=0, help_text="Earlier ticks that this firing stands in for, or skipped."
    )
    status = models.CharField(
        max_length=10, choices=FiringStatus.choices, default=FiringStatus.PENDING
    )
    created_at = models.DateTimeField(help_text="When the firing was committed.")
    published_at = models.DateTimeField(null=True, blank=True)
    beat_id = models.CharField(max_length=64, blank=True, default="")
    reason = models.CharField(
        max_length=300,
        blank=True,
        default="",
        db_default="",  # the beat's raw SQL inserts leave it out
        help_text="Why a firing was skipped or published late (the broker was unavailable).",
    )
    task_started_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When a worker began its task (`tasks.edge`): the firing ran, or is running.",
    )
    task_ended_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When its task ended (done or failed for good); the job's next tick waits.",
    )
    republished = models.PositiveIntegerField(
        default=0,
        db_default=0,
        help_text="Times it was published again: its run had not started within the deadline.",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job_name", "scheduled_tick"], name="firing_once"),
        ]
        indexes = [
            models.Index(
                fields=["created_at"],
                name="firing_outbox",
                condition=models.Q(status="pending"),
            ),
            # Published and not ended: what the beat may publish again past the deadline.
            models.Index(
                fields=["published_at"],
                name="firing_unended",
                condition=models.Q(status="published", task_ended_at__isnull=True),
            ),
            # Missed ticks, few: what health counts over its window on every /health/.
            models.Index(
                fields=["scheduled_tick"],
                name="firing_missed",
                condition=models.Q(status="skipped") | models.Q(missed_ticks__gt=0),
            ),
            models.Index(fields=["scheduled_tick"], name="firing_tick"),
        ]

    def __str__(self) -> str:
        return self.celery_task_id


class BeatInstance(models.Model):
    """A running beat process: it stamps `last_tick_at` on every tick of its loop."""

    id = models.CharField(max_length=64, primary_key=True)
    host = models.CharField(max_length=255)
    pid = models.IntegerField()
    started_at = models.DateTimeField()
    last_tick_at = models.DateTimeField(db_index=True)
    firing = models.BooleanField(
        default=True, help_text="False when SCHEDULER_BACKEND is not celery: it fires nothing."
    )
    refused_duplicates = models.PositiveBigIntegerField(
        default=0, help_text="Firings this beat did not insert: that (job, tick) had one already."
    )

    def __str__(self) -> str:
        return f"beat {self.id} on {self.host} pid {self.pid}"


class JobsSyncMark(models.Model):
    """When a backend last synced the jobs under one prefix in full or in part: the next
    start-up's `jobs_sync` reads only what changed since (the desired set's own filter)."""

    backend = models.CharField(max_length=40)
    prefix = models.CharField(max_length=100)
    synced_at = models.DateTimeField(help_text="When that sync's snapshot was taken.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["backend", "prefix"], name="jobs_sync_mark_once"),
        ]

    def __str__(self) -> str:
        return f"{self.backend} {self.prefix}* synced at {self.synced_at}"


class APSchedulerJob(models.Model):
    """A job in the APScheduler backend's store (`apscheduler_jobs`), read for the job list,
    the admin and the API. APScheduler creates and writes the table: Django never migrates it.
    The job's task, arguments, trigger and description are in its pickled state."""

    id = models.CharField(max_length=191, primary_key=True)
    next_run_time = models.FloatField(null=True, help_text="Unix time; empty when paused.")
    job_state = models.BinaryField()
    last_run_time = models.FloatField(null=True, help_text="Unix time of its latest firing.")
    spec = models.CharField(max_length=32, null=True)  # noqa: DJ001 - APScheduler's table

    class Meta:
        managed = False
        db_table = "apscheduler_jobs"
        verbose_name = "APScheduler job"

    def __str__(self) -> str:
        return self.id

"""Prometheus `/metrics`: the scheduler's figures, computed from the database at scrape time.

Both backends record each firing as a `Firing` row (our beat in its outbox, the APScheduler
leader as it submits a job), so the firing counters, lateness and missed ticks cover either;
the processes that fire the jobs (beats, or the leader) and the jobs are what the configured
backend answers (`Scheduler.gauges`): the view never asks which backend it is.

Why from the database and not prometheus_client's multiprocess mode: the figures are made by
beat processes (two of them, often on other machines than the web process) and read by
whichever web worker the scrape reaches. Multiprocess mode shares counters through files of
one host only, so a web dyno would never see a beat dyno's counters, and they would vanish
with a restarted process. The rows the beats write (`Firing`, `BeatInstance`, `JobSchedule`)
are the truth every process shares, so every scrape, in any process, gives the same figures.

Cheap at any history size: the firing counters and the lateness histogram are kept as running
totals (in the cache) up to the last firing that can no longer change, and each scrape adds
only the firings since (a range of the primary key). The gauges are single indexed queries.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from project.kernel.locks import LockPurpose, lock_for_transaction, lock_key
from project.kernel.scheduling import get_scheduler
from tasks.selectors import (
    LATENESS_BUCKETS,
    FiringTotals,
    firing_totals,
    firings_settled_up_to,
    live_beats,
    pending_firings_count,
    refused_duplicates_total,
)

TOTALS_KEY = "metrics:firing-totals"
# A firing this old and published (or skipped) is final: its figures can be kept for good.
SETTLED_AFTER = timedelta(seconds=60)
# One scrape at a time moves the kept totals forward.
TOTALS_LOCK = lock_key(LockPurpose.METRICS_TOTALS)


def firing_totals_now() -> FiringTotals:
    """Every final firing's figures: the kept totals plus the firings since, kept forward.

    Deleting old firings (retention) leaves the counters as they are: they count what
    happened, not what is still stored.
    """
    with transaction.atomic():
        with connection.cursor() as cursor:
            lock_for_transaction(cursor, TOTALS_LOCK)
        upto, kept = _kept_totals()
        settled = firings_settled_up_to(
            after_id=upto, settled_before=timezone.now() - SETTLED_AFTER
        )
        if settled > upto:
            kept = kept.add(firing_totals(after_id=upto, up_to_id=settled))
            upto = settled
            cache.set(TOTALS_KEY, _totals_json(upto, kept), timeout=None)
        return kept.add(firing_totals(after_id=upto))


def _kept_totals() -> tuple[int, FiringTotals]:
    stored = cache.get(TOTALS_KEY)
    if not stored or stored.get("bounds") != list(LATENESS_BUCKETS):
        # None kept (or kept for other buckets): counted afresh, which Prometheus reads as
        # a counter reset.
        return 0, FiringTotals()
    fired = {(status, trigger): count for status, trigger, count in stored["fired"]}
    return stored["up_to_id"], FiringTotals(
        fired=fired,
        missed_ticks=stored["missed_ticks"],
        lateness_buckets=stored["lateness_buckets"],
        lateness_count=stored["lateness_count"],
        lateness_sum=stored["lateness_sum"],
    )


def _totals_json(upto: int, totals: FiringTotals) -> dict[str, Any]:
    """The kept totals as the cache stores them: JSON, the (status, trigger) keys as lists."""
    stored = asdict(totals)
    stored["fired"] = [[status, trigger, n] for (status, trigger), n in totals.fired.items()]
    return {"up_to_id": upto, "bounds": list(LATENESS_BUCKETS), **stored}


class BeatCollector(Collector):
    """The beat's metrics, read fresh from the database at each scrape."""

    def collect(self) -> Iterator[Metric]:
        totals = firing_totals_now()
        fired = CounterMetricFamily(
            "tickwork_beat_firings",
            "Firings made by the beats or the APScheduler leader, by status (published, skipped)"
            " and trigger.",
            labels=["status", "trigger"],
        )
        for (status, trigger), count in sorted(totals.fired.items()):
            fired.add_metric([status, trigger], count)
        yield fired
        yield _lateness_histogram(totals)
        yield CounterMetricFamily(
            "tickwork_beat_missed_ticks",
            "Ticks missed while no beat ran or not published within the grace (broker down):"
            " coalesced into a catch-up run or skipped.",
            value=totals.missed_ticks,
        )
        yield CounterMetricFamily(
            "tickwork_beat_refused_duplicates",
            "Firings a beat did not make because that job and tick had one already.",
            value=refused_duplicates_total(),
        )
        yield GaugeMetricFamily(
            "tickwork_beat_due_jobs",
            "Jobs whose tick has come, not yet fired (by the configured backend).",
            get_scheduler().due_jobs_count(),
        )
        yield GaugeMetricFamily(
            "tickwork_beat_pending_firings",
            "Firings committed but not yet published (the outbox).",
            pending_firings_count(),
        )
        yield GaugeMetricFamily(
            "tickwork_beat_live_beats", "Beats that ticked recently.", len(live_beats())
        )


class SchedulerCollector(Collector):
    """The configured backend's firing processes and jobs, as the backend answers them
    (`Scheduler.gauges`): the same series whichever backend, the backend named in a label."""

    def collect(self) -> Iterator[Metric]:
        gauges = get_scheduler().gauges()
        now = timezone.now()
        info = GaugeMetricFamily(
            "tickwork_scheduler_backend", "The configured backend (1).", labels=["backend"]
        )
        info.add_metric([settings.SCHEDULER_BACKEND_NAME], 1)
        yield info
        yield GaugeMetricFamily(
            "tickwork_scheduler_firing_processes",
            "Processes firing the jobs: live beats (celery); the leader holding the lease"
            " (apscheduler: 1 when present, 0 when none leads).",
            gauges.firing_processes,
        )
        yield _seconds_gauge(
            "tickwork_scheduler_heartbeat_age_seconds",
            "Since the freshest heartbeat of a firing process (absent: none known).",
            (now - gauges.heartbeat_at).total_seconds() if gauges.heartbeat_at else None,
        )
        jobs = GaugeMetricFamily(
            "tickwork_scheduler_jobs", "Jobs of the backend, by state.", labels=["state"]
        )
        jobs.add_metric(["enabled"], gauges.jobs_enabled)
        jobs.add_metric(["paused"], gauges.jobs_paused)
        yield jobs
        yield _seconds_gauge(
            "tickwork_scheduler_next_run_timestamp_seconds",
            "Unix time of the earliest next run of an enabled job (absent: none).",
            gauges.next_run_at.timestamp() if gauges.next_run_at else None,
        )
        yield _seconds_gauge(
            "tickwork_scheduler_last_run_timestamp_seconds",
            "Unix time of the latest run of any job (absent: none yet).",
            gauges.last_run_at.timestamp() if gauges.last_run_at else None,
        )


def _seconds_gauge(name: str, documentation: str, value: float | None) -> GaugeMetricFamily:
    """A gauge with its one sample, or none when there is no value (Prometheus' `absent()`)."""
    gauge = GaugeMetricFamily(name, documentation, labels=[])
    if value is not None:
        gauge.add_metric([], value)
    return gauge


REGISTRY = CollectorRegistry(auto_describe=False)
REGISTRY.register(BeatCollector())
REGISTRY.register(SchedulerCollector())


def _refusal(request: HttpRequest) -> HttpResponse | None:
    """None when the request may read the metrics: the bearer token, or a staff session."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer":
        expected = settings.METRICS_TOKEN
        if expected and hmac.compare_digest(token.strip().encode(), expected.encode()):
            return None
        return _denied(401, 'Bearer realm="metrics", error="invalid_token"')
    if request.user.is_authenticated:
        return None if request.user.is_staff else _denied(403)
    return _denied(401, 'Bearer realm="metrics"')


def _denied(status: int, challenge: str = "") -> HttpResponse:
    reason = "staff login or the metrics bearer token required"
    response = HttpResponse(reason, status=status, content_type="text/plain")
    if challenge:
        response["WWW-Authenticate"] = challenge
    return response


@require_GET
@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text format; `Authorization: Bearer $METRICS_TOKEN` or a staff session."""
    refusal = _refusal(request)
    if refusal is not None:
        return refusal
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)


def _lateness_histogram(totals: FiringTotals) -> HistogramMetricFamily:
    return HistogramMetricFamily(
        "tickwork_beat_lateness_seconds",
        "How late each firing reached the broker after its scheduled tick.",
        buckets=[
            *(
                (str(bound), count)
                for bound, count in zip(LATENESS_BUCKETS, totals.lateness_buckets, strict=True)
            ),
            ("+Inf", totals.lateness_count),
        ],
        sum_value=totals.lateness_sum,
    )

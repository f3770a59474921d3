"""Scheduler health (degraded with a reason), jobs that fail to load, and the system jobs."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from project.kernel.scheduling import CrontabTrigger, IntervalTrigger, Scheduler
from tasks.health.scheduler import check_scheduler_processes
from tasks.heartbeat import beat_heartbeat_write
from tasks.jobs import system_jobs
from tasks.models import BeatInstance, JobSchedule
from tasks.scheduling.apscheduler_backend import APSchedulerScheduler
from tasks.scheduling.celery_backend import CeleryBeatScheduler
from tests.processes import start_run_scheduler, wait_for, wait_for_log

SYSTEM_JOB_IDS = [
    "cleanup_old_data",
    "collect_crypto_data",
    "collect_due_candles",
    "health_check",
    "recover_runs",
    "sweeps.resume",
    "sync_user_balances",
    "update_exchange_symbols",
]


def scheduler_check(client: Client) -> dict[str, object]:
    body = client.get("/health/").json()
    return {"status": body["status"], **body["checks"]["scheduler"]}


def test_celery_health_is_ok_while_beat_keeps_up(transactional_db: None, client: Client) -> None:
    CeleryBeatScheduler().add_job("job_a", "health_check", IntervalTrigger(60))
    beat_heartbeat_write()  # a live beat: with a job to fire, /health/ also asks for one

    check = scheduler_check(client)

    assert (check["status"], check["ok"]) == ("ok", True)
    assert "none overdue" in check["detail"]


def test_celery_health_is_degraded_when_beat_stops_firing(
    transactional_db: None, client: Client
) -> None:
    CeleryBeatScheduler().add_job("job_a", "health_check", IntervalTrigger(60))
    long_ago = timezone.now() - timedelta(minutes=10)
    # The row as a beat would leave it had it stopped ten minutes ago.
    JobSchedule.objects.filter(periodic_task__name="job_a").update(
        next_fire_at=long_ago, stale=False
    )

    check = scheduler_check(client)

    assert (check["status"], check["ok"]) == ("degraded", False)
    assert "'job_a'" in check["detail"]
    assert "is beat running?" in check["detail"]


@pytest.mark.usefixtures("transactional_db")
def test_apscheduler_health_says_why_when_no_process_leads(
    client: Client, settings: object
) -> None:
    settings.SCHEDULER_BACKEND = "tasks.scheduling.apscheduler_backend.APSchedulerScheduler"  # type: ignore[attr-defined]
    try:
        check = scheduler_check(client)
    finally:
        _forget_instances()

    assert (check["status"], check["ok"]) == ("degraded", False)
    assert "no process leads APScheduler" in check["detail"]


@pytest.mark.integration
@pytest.mark.usefixtures("transactional_db")
def test_apscheduler_health_is_ok_with_a_leader_and_reports_jobs_that_fail_to_load(
    client: Client, settings: object
) -> None:
    settings.SCHEDULER_BACKEND = "tasks.scheduling.apscheduler_backend.APSchedulerScheduler"  # type: ignore[attr-defined]
    leader = start_run_scheduler()
    writer = APSchedulerScheduler()
    try:
        writer.add_job("job_ok", "health_check", IntervalTrigger(3600))
        wait_for_log(leader, "APScheduler leads", timeout=60)
        healthy = scheduler_check(client)
        _store_broken_job(writer, "job_broken")
        # The leader finds it due within a second, fails to load it and says so in the store.
        broken = wait_for(
            lambda: (check := scheduler_check(client))["ok"] is False and check, 20, "the report"
        )
        listed = [job.id for job in writer.get_jobs()]
        time.sleep(2)  # the leader polls the store every second: it must survive the bad row
        leader_alive = leader.alive()
    finally:
        leader.stop()
        _forget_instances()
        for job_id in ("job_ok", "job_broken"):
            _delete_row(writer, job_id)
        writer.shutdown()

    assert healthy["ok"] is True
    assert "leader is database session" in healthy["detail"]
    assert broken["ok"] is False
    assert "job_broken" in broken["detail"]
    assert listed == ["job_ok"]
    assert leader_alive
    assert "job_broken cannot be loaded (kept in the store)" in leader.log()


@pytest.mark.usefixtures("transactional_db")
@pytest.mark.parametrize("backend_name", ["celery", "apscheduler"], indirect=True)
def test_setup_periodic_tasks_installs_the_system_jobs_once_and_keeps_edits(
    use_backend: Scheduler,
) -> None:
    call_command("setup_periodic_tasks")
    use_backend.update_job("health_check", trigger=IntervalTrigger(1800), description="mine")
    use_backend.update_job("recover_runs", description="")  # as installed before descriptions
    use_backend.pause_job("collect_crypto_data")

    call_command("setup_periodic_tasks")

    jobs = {job.id: job for job in use_backend.get_jobs()}
    defaults = {job.id: job.description for job in system_jobs()}
    assert sorted(jobs) == SYSTEM_JOB_IDS
    assert jobs["health_check"].description == "mine"
    assert jobs["recover_runs"].description == defaults["recover_runs"]
    assert jobs["cleanup_old_data"].description == defaults["cleanup_old_data"]
    assert all(text.startswith("System: ") for text in defaults.values())
    assert jobs["health_check"].trigger == IntervalTrigger(1800)
    assert jobs["collect_crypto_data"].enabled is False
    assert jobs["update_exchange_symbols"].trigger == CrontabTrigger.parse("0 1 * * *", "UTC")
    assert jobs["sync_user_balances"].trigger == IntervalTrigger(900)
    assert (jobs["sweeps.resume"].task, jobs["sweeps.resume"].trigger) == (
        "sweeps.resume",
        IntervalTrigger(5 * 60),
    )


@pytest.mark.usefixtures("transactional_db")
@pytest.mark.parametrize("backend_name", ["celery", "apscheduler"], indirect=True)
def test_setup_periodic_tasks_reset_restores_the_defaults(
    use_backend: Scheduler, capsys: pytest.CaptureFixture[str]
) -> None:
    call_command("setup_periodic_tasks")
    use_backend.update_job(
        "health_check", trigger=IntervalTrigger(1800), args=[1], description="mine"
    )
    use_backend.pause_job("collect_crypto_data")

    call_command("setup_periodic_tasks", "--reset")

    defaults = {job.id: job.trigger for job in system_jobs()}
    jobs = {job.id: job for job in use_backend.get_jobs()}
    assert {job_id: job.trigger for job_id, job in jobs.items()} == defaults
    assert all(job.enabled and job.args == () for job in jobs.values())
    assert jobs["health_check"].description == "System: the health checks, into the log"
    assert "reset health_check to its defaults" in capsys.readouterr().out


def test_daily_system_jobs_follow_the_time_zone_setting(settings: object) -> None:
    settings.TIME_ZONE = "Europe/Berlin"  # type: ignore[attr-defined]

    jobs = {job.id: job.trigger for job in system_jobs()}

    assert jobs["cleanup_old_data"] == CrontabTrigger.parse("0 3 * * *", "Europe/Berlin")


def _forget_instances() -> None:
    """Shut the configured backend's instance down and forget it (settings change back)."""
    from project.kernel import scheduling

    scheduling.get_scheduler().shutdown()
    scheduling._instance.cache_clear()


def _store_broken_job(backend: APSchedulerScheduler, job_id: str) -> None:
    store = backend._store_or_fail()
    with store.engine.begin() as conn:
        conn.execute(
            store.jobs_t.insert().values(id=job_id, next_run_time=0.0, job_state=b"not a pickle")
        )


def _delete_row(backend: APSchedulerScheduler, job_id: str) -> None:
    store = backend._store_or_fail()
    with store.engine.begin() as conn:
        conn.execute(store.jobs_t.delete().where(store.jobs_t.c.id == job_id))


def test_celery_health_is_degraded_when_no_beat_plans_a_new_job(
    transactional_db: None, client: Client
) -> None:
    CeleryBeatScheduler().add_job("job_b", "health_check", IntervalTrigger(60))
    JobSchedule.objects.update(changed_at=timezone.now() - timedelta(minutes=5))

    check = scheduler_check(client)

    assert (check["status"], check["ok"]) == ("degraded", False)
    assert "'job_b'" in check["detail"]


def test_celery_health_reads_no_job_list(
    transactional_db: None, client: Client, django_assert_max_num_queries: object
) -> None:
    for number in range(30):
        CeleryBeatScheduler().add_job(f"job_{number}", "health_check", IntervalTrigger(60))

    beat_heartbeat_write()
    # The overdue count, whether any job is to fire, the live beats: never the job list.
    with django_assert_max_num_queries(3):  # type: ignore[operator]
        CeleryBeatScheduler().health()


@pytest.mark.django_db
def test_the_scheduler_detail_check_lists_the_live_beats_only() -> None:
    now = timezone.now()
    for name, age in (("live", 1), ("gone", 120)):
        BeatInstance.objects.create(
            id=name, host="h", pid=1, started_at=now, last_tick_at=now - timedelta(seconds=age)
        )

    result = check_scheduler_processes()

    assert result.ok is True
    assert [beat["id"] for beat in result.data] == ["live"]
    assert result.detail == "celery: celery beat: none overdue, no job to fire"

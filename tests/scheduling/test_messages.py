"""What a firing sends: a task id of (job, tick), and only the kwargs its task names."""

from __future__ import annotations

from datetime import UTC, datetime

from tasks.scheduling.messages import firing_kwargs, firing_task_id
from tests.scheduling.tasks import CATCH_UP_TASK, RECORD_TASK, TICK_TASK

TICK = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_the_task_id_is_the_job_and_its_tick_in_utc() -> None:
    assert firing_task_id("strategy_42", TICK) == "strategy_42@2026-12-01T12:00:00Z"


def test_a_task_that_takes_the_tick_gets_it_and_no_trigger_on_schedule() -> None:
    kwargs = firing_kwargs(TICK_TASK, {}, TICK, "schedule")

    assert kwargs == {"scheduled_tick": "2026-12-01T12:00:00+00:00"}


def test_a_task_without_those_parameters_gets_neither() -> None:
    assert firing_kwargs(RECORD_TASK, {"note": "x"}, TICK, "catch_up") == {"note": "x"}


def test_a_catch_up_says_so_only_to_a_task_that_takes_trigger() -> None:
    assert firing_kwargs(CATCH_UP_TASK, {}, TICK, "catch_up") == {
        "scheduled_tick": "2026-12-01T12:00:00+00:00",
        "trigger": "catch_up",
    }
    assert firing_kwargs(TICK_TASK, {}, TICK, "catch_up") == {
        "scheduled_tick": "2026-12-01T12:00:00+00:00"
    }


def test_the_strategy_task_gets_its_tick_and_a_catch_up_says_so() -> None:
    import tasks.strategies  # noqa: F401 - registers it, as beat's CELERY_IMPORTS do

    scheduled = firing_kwargs("execute_single_strategy", {}, TICK, "schedule")
    catch_up = firing_kwargs("execute_single_strategy", {}, TICK, "catch_up")

    assert scheduled == {"scheduled_tick": TICK.isoformat()}
    assert catch_up == {"scheduled_tick": TICK.isoformat(), "trigger": "catch_up"}

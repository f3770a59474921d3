"""Strategy lifecycle: start, stop, pause, re-time, delete and run now, each with its job."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from project.kernel.scheduling import InvalidTrigger, JobRecord, Scheduler, Trigger, get_scheduler
from project.kernel.unique import owner_unique_save
from strategies.errors import StrategyError
from strategies.models import Strategy, StrategyRun
from strategies.selectors import strategy_job_description

logger = logging.getLogger(__name__)

EXECUTE_TASK = "execute_single_strategy"
# What an owner edits, in form order; `is_active` changes only through start and stop.
EDITABLE_FIELDS = (
    "name",
    "account",
    "market",
    "timeframe",
    "kind",
    "parameters",
    "interval_seconds",
    "crontab",
    "crontab_timezone",
    "mode",
    "max_position",
    "max_orders_per_day",
)
UPDATABLE_FIELDS = frozenset(EDITABLE_FIELDS)


DUPLICATE_NAME = "You already have a strategy with this name."


@transaction.atomic
def strategy_create(*, owner: AbstractBaseUser, data: Mapping[str, Any]) -> Strategy:
    """A new strategy for `owner`, stopped: it gets a job when it is started.

    Takes the fields `strategy_update` takes; raises ValidationError by field, saving nothing.
    """
    _refuse_unknown(data)
    strategy = Strategy(owner=owner, is_active=False, **data)
    _save(strategy)
    logger.info("strategy %s created for user %s", strategy.pk, owner.pk)
    return strategy


@transaction.atomic
def strategy_start(*, strategy: Strategy) -> Strategy:
    """Activate the strategy and make sure its one job `strategy_<id>` exists and fires."""
    trigger = _trigger(strategy)
    strategy.is_active = True
    strategy.paused_reason = ""
    strategy.save(update_fields=["is_active", "paused_reason", "updated_at"])
    scheduler = get_scheduler()
    _ensure_job(scheduler, strategy, trigger, scheduler.get_job(strategy.job_id))
    logger.info("strategy %s started: %s", strategy.pk, trigger.describe())
    return strategy


@transaction.atomic
def strategy_stop(*, strategy: Strategy) -> Strategy:
    """The owner's stop: deactivate the strategy and remove its job (nothing to do if it has
    none). It also ends a pause by the system (its reason is cleared), so a delisted market
    that returns does not start it again: the owner's stop wins."""
    strategy.paused_reason = ""
    _deactivate(strategy)
    logger.info("strategy %s stopped", strategy.pk)
    return strategy


@transaction.atomic
def strategy_pause(*, strategy: Strategy, reason: str) -> Strategy:
    """Stop the strategy for the system and record why (a delisted market, say), for its owner
    to see; `strategies_resume_on_markets` starts it again while the reason stands."""
    strategy.paused_reason = reason
    _deactivate(strategy)
    logger.warning("strategy %s paused: %s", strategy.pk, reason)
    return strategy


def _deactivate(strategy: Strategy) -> None:
    strategy.is_active = False
    strategy.save(update_fields=["is_active", "paused_reason", "updated_at"])
    _remove_job(get_scheduler(), strategy.job_id)


@transaction.atomic
def strategy_update(*, strategy: Strategy, data: Mapping[str, Any]) -> Strategy:
    """Change fields of the strategy; an active one whose trigger changed is re-timed.

    The new trigger applies from its next tick. Raises StrategyError for fields that cannot
    be changed here and ValidationError for values the model refuses; nothing is saved then.
    """
    _refuse_unknown(data)
    for name, value in data.items():
        setattr(strategy, name, value)
    trigger = _save(strategy)
    if strategy.is_active:
        scheduler = get_scheduler()
        _ensure_job(scheduler, strategy, trigger, scheduler.get_job(strategy.job_id))
    return strategy


@transaction.atomic
def strategy_delete(*, strategy: Strategy) -> None:
    """Delete the strategy with its runs and orders, and its job."""
    job_id, pk = strategy.job_id, strategy.pk
    strategy.delete()
    _remove_job(get_scheduler(), job_id)
    logger.info("strategy %s deleted", pk)


def strategy_run_now(*, strategy: Strategy) -> str:
    """Run the strategy once now, besides its schedule; returns the Celery task id.

    The run gets the current moment as its own tick: the scheduled tick may have run already,
    and a run-now is a decision of its own, not a retry of it.
    """
    if not strategy.is_active:
        raise StrategyError(f"strategy {strategy.name!r} is stopped: start it first")
    scheduler = get_scheduler()
    if scheduler.get_job(strategy.job_id) is None:
        _ensure_job(scheduler, strategy, _trigger(strategy), None)
    tick = timezone.now().isoformat()
    kwargs = {"scheduled_tick": tick, "trigger": StrategyRun.Trigger.RUN_NOW.value}
    return scheduler.run_job_now(strategy.job_id, kwargs=kwargs)


def _refuse_unknown(data: Mapping[str, Any]) -> None:
    unknown = set(data) - UPDATABLE_FIELDS
    if unknown:
        raise StrategyError(
            f"cannot update {', '.join(sorted(unknown))} here"
            + (" (use start or stop)" if "is_active" in unknown else "")
        )


def _save(strategy: Strategy) -> Trigger:
    """Validate and save (a name the owner already uses is a field error); the callers' one
    transaction undoes the save if the trigger then refuses. Returns the strategy's trigger."""
    owner_unique_save(strategy, field="name", message=DUPLICATE_NAME)
    return _trigger(strategy)


def _trigger(strategy: Strategy) -> Trigger:
    try:
        return strategy.trigger
    except InvalidTrigger as error:
        raise ValidationError({"crontab": str(error)}) from None


def _ensure_job(
    scheduler: Scheduler,
    strategy: Strategy,
    trigger: Trigger,
    job: JobRecord | None,
    description: str | None = None,
) -> list[str]:
    """Add the job, or bring the existing one to this trigger and description and resume it;
    says what it did. The description is read from the saved strategy unless given."""
    if description is None:
        description = strategy_job_description(strategy_id=strategy.pk)
    if job is None:
        scheduler.add_job(
            strategy.job_id, EXECUTE_TASK, trigger, args=[strategy.pk], description=description
        )
        return ["created"]
    changes = []
    wanted = (EXECUTE_TASK, trigger, (strategy.pk,), {}, description)
    if (job.task, job.trigger, tuple(job.args), dict(job.kwargs), job.description) != wanted:
        scheduler.update_job(
            strategy.job_id,
            task=EXECUTE_TASK,
            trigger=trigger,
            args=[strategy.pk],
            kwargs={},
            description=description,
        )
        changes.append("updated")
    if not job.enabled:
        scheduler.resume_job(strategy.job_id)
        changes.append("resumed")
    return changes


def _remove_job(scheduler: Scheduler, job_id: str) -> None:
    if scheduler.get_job(job_id) is not None:
        scheduler.remove_job(job_id)

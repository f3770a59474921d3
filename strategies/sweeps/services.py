"""Sweep writes: create (validate, plan, send), cancel, resume, and promote a set to a strategy."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from strategies.engine import get_strategy_class
from strategies.errors import StrategyError, UnknownStrategy
from strategies.models import Strategy
from strategies.services import strategy_create
from strategies.sweeps import messages, planning
from strategies.sweeps.models import Sweep, SweepPromotion, SweepSet
from strategies.sweeps.running import chunks_idle, sweep_advance
from strategies.sweeps.selectors import set_overfitted
from strategies.sweeps.space import SpaceError, space_parse
from strategies.sweeps.walkforward import MIN_FOLDS

logger = logging.getLogger(__name__)


class SweepConflict(StrategyError):
    """Not possible in the sweep's or the set's state (the API's 409)."""


def sweep_errors(sweep: Sweep) -> dict[str, list[str]]:
    """Every reason the sweep cannot run, by field: the kind's schema judges the space."""
    errors: dict[str, list[str]] = {}
    try:
        kind = get_strategy_class(sweep.kind)
    except UnknownStrategy as error:
        return {"kind": [str(error)]}
    if sweep.start >= sweep.end:
        errors["end"] = ["must be after start"]
    if sweep.folds and sweep.folds < MIN_FOLDS:
        errors["folds"] = [f"walk-forward needs at least {MIN_FOLDS} folds (or 0 for none)"]
    if sweep.search != Sweep.Search.GRID and not sweep.size:
        errors["size"] = ["a random or TPE search needs a size"]
    try:
        space_parse(kind, sweep.space)
    except SpaceError as error:
        errors["space"] = [f"{name}: {message}" for name, message in error.errors.items()]
    if not errors and sweep.folds:
        try:
            planning.sweep_folds(sweep)
        except ValueError as error:
            errors["folds"] = [str(error)]
    return errors


@transaction.atomic
def sweep_create(*, owner: AbstractBaseUser, data: Mapping[str, Any]) -> Sweep:
    """A validated sweep with its sets planned and their chunks sent after the commit.

    Raises ValidationError by field, saving nothing. A grid or random sweep plans every set
    now; a TPE sweep creates its Optuna study and sends the first ask/tell step.
    """
    sweep = Sweep(owner=owner, **data)
    sweep.full_clean(exclude=["owner", "study_name"])
    errors = sweep_errors(sweep)
    if errors:
        raise ValidationError(errors)
    if sweep.search == Sweep.Search.TPE:
        sweep.study_name = f"sweep-{uuid.uuid4().hex}"
    sweep.save()
    if sweep.search == Sweep.Search.TPE:
        # Optuna (with numpy and SQLAlchemy) loads only where a TPE sweep is made or run, not in
        # every process that imports the admin or the task modules (the beat, every worker).
        from strategies.sweeps.optimise import study_create

        study_create(sweep=sweep)
        messages.optimise_send(sweep_id=sweep.pk)
    else:
        sets = planning.sweep_sets(sweep)
        if not sets:
            raise ValidationError({"space": ["no set of this space passes the kind's rules"]})
        planning.sets_plan(sweep, sets, planning.sweep_windows(sweep))
        messages.chunks_send(sweep_id=sweep.pk, chunks=missing_chunks(sweep.pk))
    logger.info("sweep %s created: %s", sweep.pk, sweep.search)
    return sweep


def missing_chunks(sweep_id: int) -> list[int]:
    """Chunks with a set still to backtest."""
    rows = SweepSet.objects.filter(sweep_id=sweep_id, done_at__isnull=True)
    return sorted(set(rows.values_list("chunk", flat=True)))


def sweep_cancel(*, sweep: Sweep) -> Sweep:
    """Stop a running sweep: its chunks stop before their next set; results stay."""
    updated = Sweep.objects.filter(pk=sweep.pk, status=Sweep.Status.RUNNING).update(
        status=Sweep.Status.CANCELLED, finished_at=timezone.now()
    )
    sweep.refresh_from_db()
    if not updated and sweep.status != Sweep.Status.CANCELLED:
        raise SweepConflict(f"the sweep is {sweep.status}, not running")
    return sweep


@transaction.atomic
def sweeps_resume() -> list[int]:
    """Re-send the work running sweeps lost; returns the sweeps that had some re-sent.

    Lost is a chunk with a set still to backtest that is neither queued (its message, by its
    task id, in the queue) nor running (its lock held): the broker lost it, or its worker died
    with it. A TPE sweep with nothing queued or running also gets the optimiser's next step.
    So resuming a sweep whose chunks are all present sends nothing: the `sweeps.resume` system
    job runs this every few minutes, and it works after every process was stopped (it needs
    the rows and the queue only). A chunk taken between the two looks is sent again, and its
    copy finds its sets done (or its lock held) and runs nothing.
    """
    sweeps = list(Sweep.objects.filter(status=Sweep.Status.RUNNING))
    if not sweeps:
        return []
    queued = messages.queued_task_ids()
    resumed = []
    for sweep in sweeps:
        idle = chunks_idle(sweep_id=sweep.pk)
        lost = [c for c in idle if messages.chunk_task_id(sweep.pk, c) not in queued]
        messages.chunks_send(sweep_id=sweep.pk, chunks=lost)
        stepped = False
        if sweep.search == Sweep.Search.TPE:
            stepped = _optimiser_stalled(sweep, queued=queued)
            if stepped:
                messages.optimise_send(sweep_id=sweep.pk)
        else:
            transaction.on_commit(lambda pk=sweep.pk: sweep_advance(sweep_id=pk))
        if lost or stepped:
            logger.warning("sweep %s resumed: chunks %s re-sent, step %s", sweep.pk, lost, stepped)
            resumed.append(sweep.pk)
    return resumed


def _optimiser_stalled(sweep: Sweep, *, queued: set[str]) -> bool:
    """Whether a TPE sweep has nothing that will send its next step: no chunk to do (a chunk's
    end sends one; a lost one is re-sent) and no step queued."""
    return not missing_chunks(sweep.pk) and messages.optimise_task_id(sweep.pk) not in queued


@transaction.atomic
def sweep_promote(
    *,
    sweep: Sweep,
    sweep_set: SweepSet,
    owner: AbstractBaseUser,
    name: str,
    confirm_overfitted: bool = False,
) -> SweepPromotion:
    """A stopped paper strategy with the set's parameters, recording the sweep and the fold
    it came from. A set a fold flags as likely overfitted needs `confirm_overfitted`."""
    if sweep_set.sweep_id != sweep.pk:
        raise ValidationError({"set": ["not a set of this sweep"]})
    if sweep_set.done_at is None or sweep_set.error:
        raise SweepConflict("only a backtested set can be promoted")
    overfitted, fold = set_overfitted(sweep=sweep, sweep_set=sweep_set)
    if overfitted and not confirm_overfitted:
        raise SweepConflict(
            f"fold {fold} flags this set as likely overfitted: confirm to promote it"
        )
    if fold is None and sweep_set.window.startswith("is"):
        fold = int(sweep_set.window[2:])
    data = {
        "name": name,
        "market": sweep.market,
        "timeframe": sweep.timeframe,
        "kind": sweep.kind,
        "parameters": sweep_set.parameters,
        "mode": Strategy.Mode.PAPER,
    }
    strategy = strategy_create(owner=owner, data=data)
    return SweepPromotion.objects.create(
        sweep=sweep, sweep_set=sweep_set, fold=fold, strategy=strategy, overfitted=overfitted
    )
